import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { byteToUnicode, specialTokenIds, tokenizerConfigJson, tokenizerJson, type LearnedBpe } from '../core/onnx/bpe.ts';

/**
 * The default model's vocabulary: one token per byte (a byte-level BPE with no merges) plus the
 * ChatML special tokens, 259 ids in all. Why bytes rather than a learned BPE:
 *
 * - any input encodes (a problem outside the family still gets an answer, never an unknown token);
 * - tokenisation is context-free: encode(a + b) = encode(a) ++ encode(b) for ASCII text, so the ids
 *   the rollout loop builds turn by turn (model text, then the appended ```output block, then
 *   more model text) are exactly the ids of the whole transcript, and the supervised data needs
 *   no knowledge of where the loop cut the turns;
 * - numbers are read and copied digit by digit, which is the whole task.
 * The price is length: ~1 token per character (about 450 per solved problem, README.md).
 */

export const BYTE_VOCAB: LearnedBpe = { tokens: byteToUnicode(), merges: [] };
export const SPECIAL_IDS = specialTokenIds(BYTE_VOCAB.tokens.length);
export const VOCAB_SIZE = BYTE_VOCAB.tokens.length + Object.keys(SPECIAL_IDS).length;

/**
 * ChatML without system messages: the model is trained on the loop's prompts with the system
 * prompt left out, since a fixed ~230-byte instruction would cost every training sequence ~40%
 * more tokens and teach a 10M-parameter model nothing. Other roles render as in Qwen2.
 */
export const CHAT_TEMPLATE =
  "{%- for message in messages %}{%- if message['role'] != 'system' %}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  '{%- endif %}{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** Writes tokenizer.json and tokenizer_config.json (Qwen2 layout, the chat template above) into `dir`. */
export async function writeVocabFiles(dir: string, modelMaxLength: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = { ...tokenizerConfigJson(BYTE_VOCAB.tokens.length, modelMaxLength), chat_template: CHAT_TEMPLATE };
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(BYTE_VOCAB)));
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
