/**
 * The files of a Hugging Face model directory besides its weights: the tokenizer and chat template that
 * travel with every export, import and checkpoint.
 */
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chatTemplateFrom, type ChatTemplateSource } from './chat-template.ts';

export { chatTemplateFrom, defaultChatTemplate, type ChatTemplateSource } from './chat-template.ts';

/** Tokenizer files a model directory carries over from its source (whichever exist). */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
] as const;

/** True when `path` is a regular file. */
export const isFile = async (path: string): Promise<boolean> => (await stat(path).catch(() => undefined))?.isFile() ?? false;

/** Throws unless `dir` has a tokenizer.json (checked when an engine starts, so a missing tokenizer fails before training). */
export async function checkTokenizerDir(dir: string): Promise<void> {
  if (!(await isFile(join(dir, 'tokenizer.json')))) throw new Error(`no tokenizer.json in ${dir}`);
}

/** Copies the tokenizer files found in `from` to `to`; returns their names. Throws if there is no tokenizer.json. */
export async function copyTokenizerFiles(from: string, to: string): Promise<string[]> {
  await checkTokenizerDir(from);
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    if (!(await isFile(join(from, name)))) continue;
    await copyFile(join(from, name), join(to, name));
    copied.push(name);
  }
  return copied;
}

/** Reads the template files chatTemplateFrom chooses between, from `dir`. */
export async function readChatTemplate(dir: string, fromConfig: ChatTemplateSource | undefined): Promise<ChatTemplateSource | undefined> {
  const jinja = await readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => undefined);
  const json = await readFile(join(dir, 'chat_template.json'), 'utf8').catch(() => undefined);
  return chatTemplateFrom({ jinja, json, fromConfig });
}
