import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { byteToUnicode, DIGIT_GROUP_SPLIT_PATTERN, specialTokenIds, tokenizerConfigJson, tokenizerJson, type LearnedBpe } from '../core/onnx/bpe.ts';

/**
 * The default model's vocabulary: one token per byte, one token for every string of two or three
 * digits, ~530 word merges learned on the training transcripts (model/learn-vocab.ts →
 * word-merges.json), and the ChatML special tokens (~1,890 ids). The pre-tokenizer splits digit
 * runs into groups of up to three from the left (DIGIT_GROUP_SPLIT_PATTERN, Llama 3's rule), and
 * the digit merges make each group one token. Why this shape:
 *
 * - any input encodes (a problem outside the family still gets an answer, never an unknown token);
 * - copying a number, which is most of the task (operands into code, the tool output into
 *   \boxed{}), is copying a few tokens that rarely repeat within a transcript. With one token per
 *   digit it is copying runs of ten ambiguous symbols: a 2.4M-parameter byte-level model trained
 *   on 2.2M tokens learned the format perfectly (NLL 0.03 on non-digits) and copied nothing (NLL
 *   ln 10 on digits, flat from step 200 to 400);
 * - a number below 1000 is one token, so the task family (model/tasks/kinds.ts) keeps every number
 *   it shows or asks for below 1000 and each copy is a single token;
 * - the word merges make a word one token, which puts the question's operands ~30 tokens before
 *   the code that uses them instead of ~100 (a transcript is ~110 tokens, 0.43x its bytes). With
 *   bytes for words this model copied operands from the question with 25% confidence after 600
 *   steps; copies within ~40 tokens it learned (model/README.md "Why words are tokens");
 * - tokenisation stays context-free at every boundary the loop cuts (after the closing fence,
 *   around the ```output block, never between two digits; no merge contains a line break), so the
 *   ids the loop builds turn by turn are the ids of the whole transcript and the supervised data
 *   needs no knowledge of where the loop cut the turns (tested).
 */

function digitGroupVocab(): LearnedBpe {
  const tokens = byteToUnicode();
  const merges: [string, string][] = [];
  const digits = '0123456789';
  for (const a of digits) {
    for (const b of digits) {
      merges.push([a, b]);
      tokens.push(a + b);
    }
  }
  for (const a of digits) {
    for (const b of digits) {
      for (const c of digits) {
        // Either pair of a three-digit group may merge first (whichever two-digit merge ranks
        // lower), so both second merges exist and lead to the same token.
        merges.push([a + b, c], [a, b + c]);
        tokens.push(a + b + c);
      }
    }
  }
  return { tokens, merges };
}

export const DIGIT_GROUP_VOCAB: LearnedBpe = digitGroupVocab();

/**
 * Bytes no word merge contains: a line break is always a token of its own, so no token spans the
 * points where the loop cuts a transcript (after a closing fence, before an ```output block),
 * and the turn-by-turn ids equal the whole transcript's ids (tested).
 */
export const UNMERGEABLE_BYTES = '\r\n';
/** The word merges learned on the training transcripts by model/learn-vocab.ts. */
export const WORD_MERGES_FILE = fileURLToPath(new URL('./word-merges.json', import.meta.url));

function defaultVocab(): LearnedBpe {
  const wordMerges = JSON.parse(readFileSync(WORD_MERGES_FILE, 'utf8')) as [string, string][];
  return { tokens: [...DIGIT_GROUP_VOCAB.tokens, ...wordMerges.map(([a, b]) => a + b)], merges: [...DIGIT_GROUP_VOCAB.merges, ...wordMerges] };
}

export const DEFAULT_VOCAB: LearnedBpe = defaultVocab();
export const SPECIAL_IDS = specialTokenIds(DEFAULT_VOCAB.tokens.length);
export const VOCAB_SIZE = DEFAULT_VOCAB.tokens.length + Object.keys(SPECIAL_IDS).length;

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
  const config = { ...tokenizerConfigJson(DEFAULT_VOCAB.tokens.length, modelMaxLength), chat_template: CHAT_TEMPLATE };
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(DEFAULT_VOCAB, DIGIT_GROUP_SPLIT_PATTERN)));
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
