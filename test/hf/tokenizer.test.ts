import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncrementalDetokenizer, loadTokenizer, type HfTokenizerFiles } from '../../api/models/tokenizer.ts';
import type { ChatMessage } from '../../api/models/types.ts';
import { hfFixture, reference } from './env.ts';

/**
 * Conformance of our tokenizer (api/models/tokenizer.ts) with the reference implementation on the real
 * Qwen3 tokenizer as transformers' save_pretrained writes it: ids against transformers' AutoTokenizer and
 * the tokenizers library, decoded text against transformers' decode, streaming detokenization against
 * the full decode, and chat rendering against apply_chat_template.
 */

const PYTHON = 'def solve(n):\n    """Sum of squares."""\n    total = 0\n\n    for i in range(n):   \n\t\ttotal += i ** 2\n    return total\r\n\r\nprint(solve(10))\n';
const JAVASCRIPT = "function add(a, b) {\r\n  return a + b;  \r\n}\n\n\tconst s = `${add(1, 2)}`;\t\nconsole.log(s === '3' ? \"ok\" : 'bad');\n";

/** Texts that stress the pre-tokenizer regex, NFC normalization, byte-level BPE and added-token matching. */
const SHORT: Record<string, string> = {
  latex: '\\frac{a}{b} + \\boxed{42}, $$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$ and a \\\\ b; \\sqrt[3]{8} = \\left(\\dfrac{1}{2}\\right)^{-1}',
  python: PYTHON,
  javascript: JAVASCRIPT,
  digits: '12345678901234567890 3.14159 -0.5e-10 x2y3 abc123def 42nd 1,000,000 0x1F ２０２４ ١٢٣ ½ ² ⅷ',
  cjk: '中文字符测试，日本語のテキスト、한국어 텍스트。「引用」',
  arabic: 'مرحبا بالعالم، هذا اختبار. ١ + ٢ = ٣',
  emoji: '👍 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 😀😃 👩🏿‍💻',
  combining: 'e\u0301 a\u0308 n\u0303 q\u0307\u0323 \u1100\u1161\u11a8 Z\u0351\u0357\u0324',
  'nfd vs nfc': 'café caf\u0065\u0301 \u212b \u00c5 A\u030a \u2126 \u1e9b\u0323',
  'zero-width and unusual spaces': 'a\u200bb\u200cc\u200dd\ufeffe\u2060f g\u00a0h\u3000i\u2028j\u2029k\u0085l\u180em\u202fn',
  'non-BMP': '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𐍈 𠜎𠜱 \u{1F9CC} \u{10D40}\u{10D4A}',
  whitespace: '   a    b\t\t c\n\n\n   \n \r\n\r\n  \t\n   ',
  'special tokens in text': '<|im_start|>user\nhi<|im_end|>\n<|endoftext|><think>\nhmm\n</think>\n\n<tool_call>{"a": 1}</tool_call>',
  'near-special strings': '<|im_start <|foo|> <|im_end |> < think> <think <|endoftext|| <|IM_START|>',
  protocol: 'Let me compute it.\n```python\nprint(6 * 7)\n```\n```output\n42\n```\nSo the answer is $\\boxed{42}$.',
  contractions: "I'm sure they'll say it's fine, we've done what you'd want. DON'T 'S 'ſ",
  'replacement and control characters': 'a\ufffdb \ufffd\u0000\u0001\u007f\u001b[0m',
  empty: '',
};

const CORPUS: Record<string, string> = {
  ...SHORT,
  // 20k code points (never a lone surrogate) mixing every entry, so no path is only ever seen short.
  long: Array.from(Object.values(SHORT).join('\n').repeat(100)).slice(0, 20_000).join(''),
};

const TEXTS = Object.entries(CORPUS);

interface TokenizeAnswer {
  transformers: number[][];
  tokenizers: number[][];
  decoded: string[];
  decoded_skip_special: string[];
}

interface ChatCase {
  messages: ChatMessage[];
  addGenerationPrompt: boolean;
  templateVariables?: Record<string, unknown>;
}

const SYSTEM = { role: 'system', content: 'You are a careful mathematician. Use python when it helps.' };
const USER = { role: 'user', content: 'What is 6 * 7?' };

const CHATS: Record<string, ChatCase> = {
  'system + user, generation prompt': { messages: [SYSTEM, USER], addGenerationPrompt: true },
  'system + user, no generation prompt': { messages: [SYSTEM, USER], addGenerationPrompt: false },
  'user only': { messages: [USER], addGenerationPrompt: true },
  'multi-turn': {
    messages: [SYSTEM, USER, { role: 'assistant', content: 'It is 42.' }, { role: 'user', content: 'And 7 * 8?' }],
    addGenerationPrompt: true,
  },
  'reasoning of an earlier turn is stripped': {
    messages: [USER, { role: 'assistant', content: '<think>\n6 * 7 = 42.\n</think>\n\nIt is 42.' }, { role: 'user', content: 'Sure?' }],
    addGenerationPrompt: true,
  },
  'reasoning of the last turn is kept': {
    messages: [USER, { role: 'assistant', content: '<think>\n6 * 7 = 42.\n</think>\n\nIt is 42.' }],
    addGenerationPrompt: false,
  },
  'enable_thinking false': { messages: [SYSTEM, USER], addGenerationPrompt: true, templateVariables: { enable_thinking: false } },
  'enable_thinking true': { messages: [USER], addGenerationPrompt: true, templateVariables: { enable_thinking: true } },
  'unicode and code blocks': {
    messages: [
      { role: 'user', content: `Résous x² = 2 (中文 👨‍👩‍👧) \\boxed{}\n\n${JAVASCRIPT}` },
      { role: 'assistant', content: `<think>\nUse python.\n</think>\n\n\`\`\`python\n${PYTHON}\`\`\`\n\`\`\`output\n285\n\`\`\`\n\\boxed{\\sqrt{2}}` },
    ],
    addGenerationPrompt: false,
  },
};

/** Text with spaces before punctuation, which a tokenizer that "cleans up tokenization spaces" would remove. */
const SPACED_PUNCTUATION = "Hello , world . Is it ? Yes ! I 'm sure it 's fine , don 't worry ; they 're ok .";

let tokenizer: HfTokenizerFiles;
/** The same tokenizer with tokenizer_config.json saying clean_up_tokenization_spaces: true (as Llama 3's does). */
let cleanUpTokenizer: HfTokenizerFiles;
let withSpecial: TokenizeAnswer;
let withoutSpecial: TokenizeAnswer;
let cleanUp: TokenizeAnswer;
let chats: { text: string; ids: number[] }[];
let scratch: string;

async function withCleanUpConfig(dir: string): Promise<string> {
  scratch = await mkdtemp(join(tmpdir(), 'cir-tokenizer-'));
  const config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(scratch, 'tokenizer_config.json'), JSON.stringify({ ...config, clean_up_tokenization_spaces: true }));
  await copyFile(join(dir, 'tokenizer.json'), join(scratch, 'tokenizer.json'));
  return scratch;
}

beforeAll(async () => {
  const { hf } = await hfFixture('qwen3');
  tokenizer = await loadTokenizer(hf);
  cleanUpTokenizer = await loadTokenizer(await withCleanUpConfig(hf));
  const texts = TEXTS.map(([, text]) => text);
  const chatOps = Object.values(CHATS).map((c) => ({ op: 'chat', messages: c.messages, add_generation_prompt: c.addGenerationPrompt, kwargs: c.templateVariables ?? {} }));
  const answers = await reference(hf, [
    { op: 'tokenize', texts, add_special_tokens: true },
    { op: 'tokenize', texts, add_special_tokens: false },
    { op: 'tokenize', texts: [SPACED_PUNCTUATION], add_special_tokens: false, tokenizer_kwargs: { clean_up_tokenization_spaces: true } },
    ...chatOps,
  ]);
  [withSpecial, withoutSpecial, cleanUp] = answers.slice(0, 3) as [TokenizeAnswer, TokenizeAnswer, TokenizeAnswer];
  chats = answers.slice(3) as { text: string; ids: number[] }[];
}, 600_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('encoding and decoding equal transformers and tokenizers', () => {
  it.each(TEXTS.map(([name], i) => [name, i] as const))('%s', (_name, i) => {
    const text = TEXTS[i]![1];
    expect(tokenizer.encode(text)).toEqual(withSpecial.transformers[i]);
    expect(tokenizer.encode(text)).toEqual(withSpecial.tokenizers[i]);
    expect(tokenizer.encode(text, { addSpecialTokens: false })).toEqual(withoutSpecial.transformers[i]);
    expect(tokenizer.encode(text, { addSpecialTokens: false })).toEqual(withoutSpecial.tokenizers[i]);
    const ids = withSpecial.transformers[i]!;
    expect(tokenizer.decode(ids)).toBe(withSpecial.decoded[i]);
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe(withSpecial.decoded_skip_special[i]);
  });

  it('the corpus exercises what it is meant to: special tokens, per-digit splits, and bytes of one character split over tokens', () => {
    const ids = (name: string) => withSpecial.transformers[TEXTS.findIndex(([n]) => n === name)]!;
    const special = ids('special tokens in text');
    for (const token of ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>', '</tool_call>']) {
      expect(special).toContain(tokenizer.encode(token)[0]);
    }
    expect(ids('near-special strings').some((id) => tokenizer.specialTokenIds.has(id))).toBe(false);
    expect(ids('digits').slice(0, 20).map((id) => tokenizer.decode([id]))).toEqual([...'12345678901234567890']);
    expect(ids('emoji').some((id) => tokenizer.decode([id]).includes('\uFFFD'))).toBe(true);
  });

  it('decode leaves spaces before punctuation alone even when the config asks to clean them up, as transformers does for BPE', () => {
    const ids = cleanUpTokenizer.encode(SPACED_PUNCTUATION, { addSpecialTokens: false });
    expect(ids).toEqual(cleanUp.transformers[0]);
    expect(cleanUpTokenizer.decode(ids)).toBe(cleanUp.decoded[0]);
    expect(cleanUp.decoded[0]).toBe(SPACED_PUNCTUATION);
  });
});

describe('streaming detokenization reproduces the full decode', () => {
  /** Feeds ids one at a time; returns every delta (flush last). */
  function stream(ids: readonly number[], skipSpecialTokens: boolean, context: readonly number[] = []): string[] {
    const detokenizer = new IncrementalDetokenizer(tokenizer, context, skipSpecialTokens);
    return [...ids.map((id) => detokenizer.push(id)), detokenizer.flush()];
  }

  it.each(TEXTS.map(([name], i) => [name, i] as const))('%s', (_name, i) => {
    const ids = withSpecial.transformers[i]!;
    const expected = { false: withSpecial.decoded[i]!, true: withSpecial.decoded_skip_special[i]! };
    for (const skip of [false, true]) {
      const deltas = stream(ids, skip);
      expect(deltas.join('')).toBe(expected[`${skip}`]);
      // No delta carries half a character (U+FFFD) unless the text itself has one.
      if (!expected[`${skip}`].includes('\uFFFD')) expect(deltas.filter((d) => d.includes('\uFFFD'))).toEqual([]);
    }
  });

  it('continues after a prompt without emitting it', () => {
    const prompt = tokenizer.applyChatTemplate([USER]);
    const i = TEXTS.findIndex(([name]) => name === 'emoji');
    expect(stream(withSpecial.transformers[i]!, true, prompt).join('')).toBe(withSpecial.decoded_skip_special[i]);
  });
});

describe('chat rendering equals apply_chat_template', () => {
  it.each(Object.keys(CHATS).map((name, i) => [name, i] as const))('%s', (name, i) => {
    const { messages, addGenerationPrompt, templateVariables } = CHATS[name]!;
    const options = { addGenerationPrompt, ...(templateVariables && { templateVariables }) };
    expect(tokenizer.renderChat(messages, options)).toBe(chats[i]!.text);
    expect(tokenizer.applyChatTemplate(messages, options)).toEqual(chats[i]!.ids);
  });

  it('the template did what the cases are about', () => {
    const text = (name: string) => chats[Object.keys(CHATS).indexOf(name)]!.text;
    expect(text('reasoning of an earlier turn is stripped')).not.toContain('6 * 7 = 42.');
    expect(text('reasoning of the last turn is kept')).toContain('<think>\n6 * 7 = 42.\n</think>');
    expect(text('enable_thinking false')).toMatch(/<\|im_start\|>assistant\n<think>\n\n<\/think>\n\n$/);
    expect(text('enable_thinking true')).toMatch(/<\|im_start\|>assistant\n$/);
  });

  it('defaults to a generation prompt without extra variables, as before', () => {
    expect(tokenizer.renderChat([SYSTEM, USER])).toBe(chats[0]!.text);
  });
});
