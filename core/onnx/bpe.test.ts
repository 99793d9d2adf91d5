import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import { Rng } from '../../api/models/generation/rng.ts';
import { syntheticCorpus } from '../../scripts/make-model.ts';
import { learnByteLevelBpe, specialTokenIds, writeTokenizerFiles } from './bpe.ts';

describe('byte-level BPE', () => {
  it('learns merges deterministically, most frequent pair first', () => {
    const a = learnByteLevelBpe('aaab aaab aaab cd cd', 10);
    const b = learnByteLevelBpe('aaab aaab aaab cd cd', 10);
    expect(a).toEqual(b);
    expect(a.merges[0]).toEqual(['a', 'a']);
    expect(a.tokens.length).toBe(256 + a.merges.length);
    // Pairs seen once are never merged.
    expect(learnByteLevelBpe('xyz', 10).merges).toEqual([]);
  });

  it('extends a base vocabulary (its ids and merges first) and never merges the unmergeable bytes', () => {
    const base = learnByteLevelBpe('qq qq', 1);
    expect(base.merges).toEqual([['q', 'q']]);
    const grown = learnByteLevelBpe('qqr;\n qqr;\n qqr;\n', 10, { base, unmergeableBytes: '\n' });
    expect(grown.tokens.slice(0, base.tokens.length)).toEqual(base.tokens);
    expect(grown.merges[0]).toEqual(['q', 'q']);
    // " qqr" is built from the base's "qq" token; ";" and "\n" (Ċ in the byte alphabet) stay apart.
    expect(grown.tokens).toContain('qqr');
    expect(grown.merges.some(([a, b]) => (a + b).includes('Ċ'))).toBe(false);
    expect(grown.merges.length).toBeLessThanOrEqual(1 + 10);
  });

  it('writes a tokenizer.json that @huggingface/tokenizers loads and round-trips', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cir-bpe-'));
    try {
      const bpe = learnByteLevelBpe(syntheticCorpus(20_000, new Rng(0)), 200);
      await writeTokenizerFiles(bpe, dir, 128);
      const tok = await loadTokenizer(dir);
      const special = specialTokenIds(bpe.tokens.length);
      expect(tok.vocabSize).toBe(bpe.tokens.length + 3);
      for (const text of ['Let x = 37 * 12.\n', 'héllo 😀 数学', '```python\nprint(1)\n```\n']) {
        expect(tok.decode(tok.encode(text))).toBe(text);
      }
      // A closing fence is one token, with or without its newline, so "```\n" stops cleanly.
      expect(tok.encode('```')).toHaveLength(1);
      expect(tok.encode('```\n')).toHaveLength(1);
      // An output fence opens with the same ``` token, then the word.
      const out = tok.encode('```output\n');
      expect(out[0]).toBe(tok.encode('```')[0]);
      expect(tok.decode(out.slice(1))).toBe('output\n');
      // Special tokens are single ids, skipped on request; the chat template renders ChatML.
      const chat = tok.applyChatTemplate([{ role: 'user', content: 'hi' }]);
      expect(chat[0]).toBe(special['<|im_start|>']);
      expect(chat).toContain(special['<|im_end|>']);
      expect(tok.renderChat([{ role: 'user', content: 'hi' }])).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
      expect(tok.decode(chat, { skipSpecialTokens: true })).toBe('user\nhi\nassistant\n');
      expect(tok.eosTokenId).toBe(special['<|im_end|>']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
