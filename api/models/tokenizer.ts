import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readChatTemplate } from '../../core/hf/files.ts';
import { tokenizerFromFiles, type HfTokenizerFiles, type TokenizerConfig } from './hf-tokenizer.ts';

/** The tokenizer read from a model directory (Node); hf-tokenizer.ts builds it from the files' contents. */
export { HfTokenizerFiles, IncrementalDetokenizer, tokenizerFromFiles, type TokenizerConfig } from './hf-tokenizer.ts';

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Loads `tokenizer.json`, `tokenizer_config.json` and the chat template from `dir`. */
export async function loadTokenizer(dir: string): Promise<HfTokenizerFiles> {
  const json = await readJson(join(dir, 'tokenizer.json'), 'tokenizer');
  const fileConfig = (await readJson(join(dir, 'tokenizer_config.json'), 'tokenizer config')) as TokenizerConfig;
  const config = { ...fileConfig, chat_template: await readChatTemplate(dir, fileConfig.chat_template) };
  return tokenizerFromFiles(json, config, join(dir, 'tokenizer.json'));
}

