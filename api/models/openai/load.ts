import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadTokenizer } from '../tokenizer.ts';
import { OpenAIBackend, type OpenAIServerOptions } from './backend.ts';

export interface OpenAIBackendOptions extends OpenAIServerOptions {
  /** Directory with the served model's tokenizer.json + tokenizer_config.json (and optionally config.json). */
  tokenizerDir: string;
}

/** Node: the OpenAI-compatible backend with the tokenizer (and config.json's context length) read from a directory. */
export async function loadOpenAIBackend(options: OpenAIBackendOptions): Promise<OpenAIBackend> {
  const { tokenizerDir, ...server } = options;
  const tokenizer = await loadTokenizer(tokenizerDir);
  return OpenAIBackend.connect({ ...server, tokenizer, maxPositionEmbeddings: await maxPositionEmbeddings(tokenizerDir) });
}

async function maxPositionEmbeddings(dir: string): Promise<number | undefined> {
  try {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { max_position_embeddings?: unknown };
    return typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : undefined;
  } catch {
    return undefined;
  }
}
