import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeModel } from '../../scripts/make-model.ts';

describe('scripts/make-model.ts', () => {
  const dirs: string[] = [];
  const fresh = async () => {
    const d = await mkdtemp(join(tmpdir(), 'cir-make-model-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('writes the same files for the same seed, and different weights for another seed', async () => {
    const [a, b, c] = [await fresh(), await fresh(), await fresh()];
    await makeModel({ outDir: a, preset: 'tiny', seed: 7 });
    await makeModel({ outDir: b, preset: 'tiny', seed: 7 });
    await makeModel({ outDir: c, preset: 'tiny', seed: 8 });
    for (const file of ['model.onnx', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      expect(Buffer.compare(await readFile(join(a, file)), await readFile(join(b, file))), file).toBe(0);
    }
    expect(Buffer.compare(await readFile(join(a, 'model.onnx')), await readFile(join(c, 'model.onnx')))).not.toBe(0);
  });

  it('writes an HF-style config.json that names the special tokens', async () => {
    const dir = await fresh();
    const made = await makeModel({ outDir: dir, preset: 'tiny' });
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'qwen2',
      architectures: ['Qwen2ForCausalLM'],
      vocab_size: made.config.vocabSize,
      num_key_value_heads: 2,
      tie_word_embeddings: true,
    });
    const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(config.eos_token_id).toContain(Number(Object.entries(tokenizerConfig.added_tokens_decoder).find(([, t]) => (t as { content: string }).content === '<|im_end|>')![0]));
  });
});
