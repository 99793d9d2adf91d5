/**
 * `cir import` as a user runs it on a Hugging Face checkpoint directory: the model directory it writes
 * is served over HTTP by `cir serve` (CIR_MODEL_DIR), and bad input gets a message naming what is wrong.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { runCommand } from '../cli-run.ts';
import { hfFixture, type HfFixture } from './env.ts';

let fixture: HfFixture;
let work: string;

beforeAll(async () => {
  fixture = await hfFixture('qwen3');
  work = await mkdtemp(join(tmpdir(), 'cir-import-cli-'));
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const cir = (argv: string[], env: Record<string, string> = {}) => runCommand(main, argv, env);

describe('cir import', () => {
  let server: RunningServer | undefined;
  afterAll(async () => server?.close());

  it('writes a model directory (checkpoint files + model.onnx) that cir serve runs', async () => {
    const out = join(work, 'qwen3');
    const { code, stdout, stderr } = await cir(['import', fixture.hf, '--out', out]);
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ architecture: 'Qwen3ForCausalLM', dtype: 'fp32' });
    expect(summary.parameters).toBeGreaterThan(9e6);
    expect(stderr).toMatch(/imported Qwen3ForCausalLM \(9\.8M parameters\)/);
    expect((await readdir(out)).sort()).toEqual(['chat_template.jinja', 'config.json', 'generation_config.json', 'model.onnx', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    // The checkpoint's own config.json is kept as it is, for vLLM and transformers.
    expect(await readFile(join(out, 'config.json'), 'utf8')).toBe(await readFile(join(fixture.hf, 'config.json'), 'utf8'));

    server = await startNodeServer({ PORT: '0', HOST: '127.0.0.1', CIR_MODEL_DIR: out, CIR_DATA_DIR: join(work, 'data'), CIR_PYTHON_EXECUTOR: 'off', CIR_MODEL_THREADS: '1' });
    const base = server.url;
    const models = await (await fetch(`${base}/v1/models`)).json();
    expect(models.data[0]).toMatchObject({ id: 'qwen3', max_model_len: 4096 });
    const chat = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'qwen3', messages: [{ role: 'user', content: '1+1?' }], max_tokens: 8, temperature: 0 }),
    });
    expect(chat.status).toBe(200);
    expect((await chat.json()).usage.completion_tokens).toBe(8);
  });

  it('refuses an existing directory unless --force, and a bad --dtype with the usage', async () => {
    const out = join(work, 'taken');
    await cp(fixture.hf, out, { recursive: true });
    const refused = await cir(['import', fixture.hf, '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/exists and is not empty; choose another --out or pass --force/);
    expect((await cir(['import', fixture.hf, '--out', out, '--force'])).code).toBe(0);
    const usage = await cir(['import', fixture.hf, '--out', out, '--dtype', 'int8']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--dtype must be fp32 or fp16, got "int8"[\s\S]*usage: cir import/);
  });

  it('names what is wrong with a checkpoint: unsupported architecture, no tokenizer, no weights', async () => {
    const broken = join(work, 'broken');
    await cp(fixture.hf, broken, { recursive: true });
    const config = JSON.parse(await readFile(join(broken, 'config.json'), 'utf8'));
    await writeFile(join(broken, 'config.json'), JSON.stringify({ ...config, architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe' }));
    const moe = await cir(['import', broken, '--out', join(work, 'moe')]);
    expect(moe.code).toBe(2);
    expect(moe.stderr).toMatch(/architecture Qwen3MoeForCausalLM is not supported \(supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM\)/);

    await writeFile(join(broken, 'config.json'), JSON.stringify(config));
    await rm(join(broken, 'tokenizer.json'));
    const noTokenizer = await cir(['import', broken, '--out', join(work, 'no-tokenizer')]);
    expect(noTokenizer.code).toBe(1);
    expect(noTokenizer.stderr).toMatch(/no tokenizer.json in .*save the fast tokenizer/);

    await cp(join(fixture.hf, 'tokenizer.json'), join(broken, 'tokenizer.json'));
    await rm(join(broken, 'model.safetensors'));
    const noWeights = await cir(['import', broken, '--out', join(work, 'no-weights')]);
    expect(noWeights.code).toBe(1);
    expect(noWeights.stderr).toMatch(/no model.safetensors or model.safetensors.index.json/);
    // Nothing half-written is left behind.
    expect((await readdir(work)).filter((name) => name.includes('importing'))).toEqual([]);
  });
});
