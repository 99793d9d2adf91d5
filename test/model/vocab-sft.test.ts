import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../api/models/generation/rng.ts';
import { loadTokenizer, type HfTokenizerFiles } from '../../api/models/tokenizer.ts';
import { DEFAULT_PROMPT_TEMPLATE, promptMessages, renderPrompt } from '../../api/reasoning/prompt.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';
import type { Executor } from '../../api/sandbox/types.ts';
import { countParameters } from '../../core/onnx/decoder.ts';
import { DEFAULT_MODEL_CONFIG } from '../../model/config.ts';
import { copyDrill, sftExample } from '../../model/sft.ts';
import { ReferenceSolver, SOLUTION_STYLES } from '../../model/solutions/reference.ts';
import { generateProblems, SPLITS } from '../../model/tasks/generate.ts';
import { Draw } from '../../model/tasks/random.ts';
import { readFileSync } from 'node:fs';
import { SPECIAL_IDS, VOCAB_SIZE, WORD_MERGES_FILE, writeVocabFiles } from '../../model/vocab.ts';

/** The default vocabulary through the API's tokenizer loader, the chat template, and the warm-start sequences. */

const WORD_MERGES = JSON.parse(readFileSync(WORD_MERGES_FILE, 'utf8')) as [string, string][];

let dir: string;
let tokenizer: HfTokenizerFiles;
let executor: Executor;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-model-vocab-'));
  await writeVocabFiles(dir, DEFAULT_MODEL_CONFIG.maxPositionEmbeddings);
  tokenizer = await loadTokenizer(dir);
  executor = createQuickJSNodeExecutor({ threads: 1 });
});

afterAll(async () => {
  await executor.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('default vocabulary', () => {
  it('loads through api/models/tokenizer.ts: bytes, one id per 1-3 digit group, the word merges, the ChatML specials', () => {
    expect(tokenizer.vocabSize).toBe(VOCAB_SIZE);
    expect(VOCAB_SIZE).toBe(256 + 100 + 1000 + WORD_MERGES.length + 3);
    expect(WORD_MERGES.length).toBeGreaterThan(300);
    expect([...tokenizer.specialTokenIds].sort()).toEqual(Object.values(SPECIAL_IDS).sort());
    expect(tokenizer.eosTokenId).toBe(SPECIAL_IDS['<|im_end|>']);
    const pieces = (text: string) => tokenizer.encode(text, { addSpecialTokens: false }).map((id) => tokenizer.decode([id]));
    // Digit runs split into groups of three from the left, each one token; the task's words are one token each.
    expect(pieces('What is 48120375521 times 7?')).toEqual(['What', ' is', ' ', '481', '203', '755', '21', ' times', ' ', '7', '?']);
    expect(pieces('x=1000000n;')).toEqual(['x', '=', '100', '000', '0', 'n', ';']);
    // A line break is always a token of its own (the loop cuts transcripts next to them), and no merge touches a digit.
    for (const [a, b] of WORD_MERGES) {
      expect(`${a}${b}`, `${a} ${b}`).not.toMatch(/[\u010a\u010d0-9]/);
    }
    expect(pieces('```javascript\nx\n```\n```output\n')).toEqual(['```', 'javascript', '\n', 'x', '\n', '```', '\n', '```', 'output', '\n']);
    // Any input (non-ASCII included) round-trips.
    for (const text of ['What is 12 times 34?', '```javascript\nconsole.log(1n);\n```', 'héllo 😀 数学 \\boxed{x} 1.5e+37']) {
      expect(tokenizer.decode(tokenizer.encode(text, { addSpecialTokens: false }))).toBe(text);
    }
    // Every 2- and 3-digit string is one token, wherever its pair merges land.
    for (let n = 0; n < 1000; n++) {
      for (const text of [String(n).padStart(3, '0'), String(n % 100).padStart(2, '0')]) {
        expect(tokenizer.encode(text, { addSpecialTokens: false })).toHaveLength(1);
      }
    }
  });

  it('renders the chat template without the system prompt, and encodes specials as single ids', () => {
    const messages = promptMessages(DEFAULT_PROMPT_TEMPLATE, { problem: 'What is 2^10?' });
    expect(messages[0]!.role).toBe('system');
    expect(tokenizer.renderChat(messages)).toBe('<|im_start|>user\nWhat is 2^10?<|im_end|>\n<|im_start|>assistant\n');
    const ids = renderPrompt(tokenizer, messages);
    expect(ids[0]).toBe(SPECIAL_IDS['<|im_start|>']);
    expect(ids.filter((id) => id === SPECIAL_IDS['<|im_end|>'])).toHaveLength(1);
    expect(ids.map((id) => tokenizer.decode([id]))).toEqual(['<|im_start|>', 'user', '\n', 'What', ' is', ' ', '2', '^', '10', '?', '<|im_end|>', '\n', '<|im_start|>', 'assistant', '\n']);
  });

  it('the model config is Llama-style, within 10M parameters, and matches the vocabulary', () => {
    expect(DEFAULT_MODEL_CONFIG.vocabSize).toBe(VOCAB_SIZE);
    expect(countParameters(DEFAULT_MODEL_CONFIG)).toBeLessThanOrEqual(10_000_000);
    expect(DEFAULT_MODEL_CONFIG.eosTokenId).toContain(SPECIAL_IDS['<|im_end|>']);
  });
});

describe('warm-start sequences', () => {
  it('round-trip, fit the context, and mask exactly the prompt and the output blocks, for every split and style', async () => {
    const solver = new ReferenceSolver(executor);
    const draw = new Draw(new Rng(4));
    const endOfTurn = SPECIAL_IDS['<|im_end|>'];
    let longest = 0;
    for (const split of SPLITS) {
      for (const problem of generateProblems({ split, count: 24, seed: 8 })) {
        for (const style of SOLUTION_STYLES) {
          const solution = await solver.solve(problem, style, draw);
          const example = sftExample(tokenizer, endOfTurn, problem, solution);
          expect(example.lossMask).toHaveLength(example.ids.length);
          longest = Math.max(longest, example.ids.length);
          // Context-free at the loop's cuts (never between two digits): the whole response encodes to the turn-by-turn ids.
          const response = example.ids.slice(example.promptLength, -1);
          expect(response).toEqual(tokenizer.encode(solution.text, { addSpecialTokens: false }));
          expect(tokenizer.decode(response)).toBe(solution.text);
          expect(example.ids.at(-1)).toBe(endOfTurn);
          // Mask: 0 on the prompt and on output blocks, 1 everywhere else (the end-of-turn token included).
          expect(example.lossMask.slice(0, example.promptLength).every((m) => m === 0)).toBe(true);
          const masked = example.ids.filter((_, i) => i >= example.promptLength && example.lossMask[i] === 0);
          const outputs = solution.segments.filter((s) => s.type === 'output').map((s) => s.text).join('');
          expect(tokenizer.decode(masked)).toBe(outputs);
          expect(example.lossMask.at(-1)).toBe(1);
        }
      }
    }
    expect(longest).toBeLessThanOrEqual(DEFAULT_MODEL_CONFIG.maxPositionEmbeddings);
  });
});

describe('copy drills', () => {
  it('are one to three one-token numbers after task words, copied in order into a code block, loss on the code only', () => {
    const draw = new Draw(new Rng(6));
    for (let k = 0; k < 50; k++) {
      const drill = copyDrill(tokenizer, draw);
      const ids = Array.from(drill.ids);
      const prompt = tokenizer.decode(ids.filter((_, i) => !drill.lossMask[i]));
      const code = tokenizer.decode(ids.filter((_, i) => drill.lossMask[i]));
      const numbers = prompt.match(/\d+/g)!;
      expect(numbers.length).toBeGreaterThanOrEqual(1);
      expect(numbers.length).toBeLessThanOrEqual(3);
      expect(code).toBe(`\`\`\`javascript\nconsole.log(${numbers.map((n) => `${n}n`).join(' * ')});\n\`\`\``);
      // The loss mask is exactly the code block, which ends the turn as the loop ends it (on the fence).
      expect(drill.lossMask.slice(0, drill.lossMask.indexOf(1)).every((m) => m === 0)).toBe(true);
      expect(drill.lossMask.slice(drill.lossMask.indexOf(1)).every((m) => m === 1)).toBe(true);
      for (const n of numbers) expect(tokenizer.encode(n, { addSpecialTokens: false })).toHaveLength(1);
    }
  });
});
