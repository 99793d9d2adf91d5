/**
 * The files of a Hugging Face model directory besides its weights: the tokenizer and chat template that
 * travel with every export, import and checkpoint.
 */
import { copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Tokenizer files a model directory carries over from its source (whichever exist). */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
] as const;

const isFile = async (path: string) => (await stat(path).catch(() => undefined))?.isFile() ?? false;

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
