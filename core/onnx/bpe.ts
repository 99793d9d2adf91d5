import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Byte-level BPE in the Qwen2/GPT-2 `tokenizer.json` format: a small deterministic merge
 * learner plus the writer of `tokenizer.json` / `tokenizer_config.json`. The files are read
 * by @huggingface/tokenizers like any hub tokenizer; nothing here encodes text at run time.
 */

/** Qwen2's pre-tokenizer split (digits one by one, so numbers tokenise uniformly). */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/**
 * Qwen2's split with digits in groups of up to three from the left (Llama 3's choice): with a
 * token for every 1-3 digit string, a number is a few tokens that rarely repeat within a text,
 * so copying it is matching whole tokens, not runs of ten ambiguous digit tokens.
 */
export const DIGIT_GROUP_SPLIT_PATTERN = QWEN2_SPLIT_PATTERN.replace('|\\p{N}|', '|\\p{N}{1,3}|');
/** The same patterns in JavaScript syntax (no inline `(?i:)` group), used to split a training corpus. */
const SPLIT_REGEX =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
export const DIGIT_GROUP_SPLIT_REGEX = new RegExp(SPLIT_REGEX.source.replace('|\\p{N}|', '|\\p{N}{1,3}|'), 'gu');

/** ChatML, as Qwen2 uses it (without the default system prompt). */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/** GPT-2's reversible byte -> printable character map. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  }
  return table;
}

/** Max-heap of (count, pair) with a deterministic tie-break on the pair key. */
class PairHeap {
  private readonly items: [count: number, key: number][] = [];

  private before(i: number, j: number): boolean {
    const a = this.items[i]!;
    const b = this.items[j]!;
    return a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  private swap(i: number, j: number): void {
    const t = this.items[i]!;
    this.items[i] = this.items[j]!;
    this.items[j] = t;
  }

  push(count: number, key: number): void {
    this.items.push([count, key]);
    let i = this.items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): [number, number] | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.items.length > 0) {
      this.items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.items.length && this.before(l, best)) best = l;
        if (r < this.items.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

export interface LearnedBpe {
  /** Token strings by id (byte-level alphabet first, then one per merge). */
  tokens: string[];
  /** Merges in priority order, as pairs of token strings. */
  merges: [string, string][];
}

export interface LearnOptions {
  /** A vocabulary to extend: its tokens keep their ids and its merges come first. Default: the bytes alone. */
  base?: LearnedBpe;
  /** The pre-tokenizer, in JavaScript syntax (global, unicode). Default: Qwen2's split. */
  splitRegex?: RegExp;
  /** Bytes no learned merge may contain (e.g. "\n", so a token never spans a line break where the loop cuts). */
  unmergeableBytes?: string;
}

/**
 * Learns up to `numMerges` merges (after the base's) over `corpus` the classic way: split into pre-tokens, count
 * adjacent symbol pairs weighted by pre-token frequency, merge the most frequent pair
 * (ties: lowest pair of ids), repeat until no pair occurs twice.
 */
export function learnByteLevelBpe(corpus: string, numMerges: number, options: LearnOptions = {}): LearnedBpe {
  const alphabet = byteToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const match of corpus.matchAll(options.splitRegex ?? SPLIT_REGEX)) {
    const word = Array.from(encoder.encode(match[0]), (b) => alphabet[b]!).join('');
    wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const base = options.base ?? { tokens: alphabet, merges: [] };
  const tokens = [...base.tokens];
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const baseRanks = new Map(base.merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
  const words = [...wordCounts.keys()].map((w) => applyMerges(Array.from(w), baseRanks).map((t) => ids.get(t)!));
  const freqs = [...wordCounts.values()];
  const unmergeable = new Set(Array.from(encoder.encode(options.unmergeableBytes ?? ''), (b) => alphabet[b]!));
  const mergeable = (id: number): boolean => !Array.from(tokens[id]!).some((ch) => unmergeable.has(ch));

  const KEY = 1 << 20;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const heap = new PairHeap();
  const addPairs = (w: number, sign: 1 | -1, touched: Set<number>) => {
    const symbols = words[w]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      if (!mergeable(symbols[i]!) || !mergeable(symbols[i + 1]!)) continue;
      const key = symbols[i]! * KEY + symbols[i + 1]!;
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * freqs[w]!);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
      touched.add(key);
    }
  };
  const initial = new Set<number>();
  words.forEach((_, w) => addPairs(w, 1, initial));
  for (const key of initial) heap.push(pairCounts.get(key)!, key);

  const merges: [string, string][] = [...base.merges];
  while (merges.length < base.merges.length + numMerges) {
    const top = heap.pop();
    if (!top) break;
    const [count, key] = top;
    if (pairCounts.get(key) !== count) continue; // stale heap entry
    if (count < 2) break;
    const a = Math.floor(key / KEY);
    const b = key % KEY;
    const merged = tokens.length;
    tokens.push(tokens[a]! + tokens[b]!);
    merges.push([tokens[a]!, tokens[b]!]);
    const touched = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      addPairs(w, -1, touched);
      const symbols = words[w]!;
      const next: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          next.push(merged);
          i++;
        } else {
          next.push(symbols[i]!);
        }
      }
      words[w] = next;
      addPairs(w, 1, touched);
    }
    pairWords.delete(key);
    for (const k of touched) {
      const c = pairCounts.get(k)!;
      if (c > 0) heap.push(c, k);
      else pairCounts.delete(k);
    }
  }
  return { tokens, merges };
}

/** Encodes one pre-token's symbols as a BPE tokenizer does: the lowest-ranked adjacent pair ("a b" → rank) merges first. */
function applyMerges(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
    }
    if (best < 0) return symbols;
    symbols = [...symbols.slice(0, best), symbols[best]! + symbols[best + 1]!, ...symbols.slice(best + 2)];
  }
}

/** `tokenizer.json` content for a learned BPE plus the ChatML special tokens (ids after the BPE vocabulary). */
export function tokenizerJson(bpe: LearnedBpe, splitPattern: string = QWEN2_SPLIT_PATTERN): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  bpe.tokens.forEach((t, i) => (vocab[t] = i));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, i) => ({
      id: bpe.tokens.length + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: splitPattern }, behavior: 'Isolated', invert: false }, byteLevel],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** Ids of the special tokens for a BPE of `bpeSize` tokens. */
export function specialTokenIds(bpeSize: number): Record<(typeof SPECIAL_TOKENS)[number], number> {
  return { '<|endoftext|>': bpeSize, '<|im_start|>': bpeSize + 1, '<|im_end|>': bpeSize + 2 };
}

/** `tokenizer_config.json` in Qwen2's shape, with the ChatML chat template. */
export function tokenizerConfigJson(bpeSize: number, modelMaxLength: number): Record<string, unknown> {
  const ids = specialTokenIds(bpeSize);
  const decoder: Record<string, unknown> = {};
  for (const [content, id] of Object.entries(ids)) {
    decoder[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  }
  return {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: null,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    model_max_length: modelMaxLength,
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    unk_token: null,
  };
}

/** Writes `tokenizer.json` and `tokenizer_config.json` into `outDir`. */
export async function writeTokenizerFiles(bpe: LearnedBpe, outDir: string, modelMaxLength: number): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'tokenizer.json'), JSON.stringify(tokenizerJson(bpe)));
  await writeFile(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfigJson(bpe.tokens.length, modelMaxLength), null, 2)}\n`);
}
