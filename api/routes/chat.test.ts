import { serve, type ServerType } from '@hono/node-server';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureModel } from '../../scripts/make-model.ts';
import { ScriptedBackend } from '../../test/reasoning/scripted-backend.ts';
import { createApp } from '../app.ts';
import { execLimits, loadConfig } from '../config.ts';
import { loadTokenizer } from '../models/tokenizer.ts';
import { Sandbox } from '../sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../sandbox/quickjs/node.ts';

/**
 * /v1/chat/completions through the official `openai` client against the app on a real socket:
 * the server runs the model's code blocks and the content carries them, executed, as the model saw them.
 */

let sandbox: Sandbox;
let server: ServerType;
let backend: ScriptedBackend;
let client: OpenAI;

const SCRIPT = ['Let me check.\n```javascript\nconsole.log(12 * 12)\n```\n', 'The answer is \\boxed{144}.'];
const CONTENT = 'Let me check.\n```javascript\nconsole.log(12 * 12)\n```\n```output\n144\n```\nThe answer is \\boxed{144}.';

beforeAll(async () => {
  const tokenizer = await loadTokenizer(await ensureModel('tiny'));
  backend = new ScriptedBackend(tokenizer, () => SCRIPT, { id: 'cir-test' });
  sandbox = new Sandbox({ executors: [createQuickJSNodeExecutor({ threads: 1 })], limits: execLimits(loadConfig({})), queueLimit: 32 });
  const app = createApp({
    config: loadConfig({ CIR_API_KEYS: 'sk-test' }),
    sandbox,
    runtime: 'node',
    served: () => ({ backend, checkpoint: { version: 'v1' } }),
    log: () => {},
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const address = server.address() as { port: number };
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${address.port}/v1`, maxRetries: 0 });
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await sandbox?.dispose();
});

describe('POST /v1/chat/completions with the openai client', () => {
  it('returns the executed transcript as content', async () => {
    const completion = await client.chat.completions.create({
      model: 'cir-test',
      messages: [{ role: 'user', content: 'What is 12 squared?' }],
      n: 2,
      seed: 1,
      max_completion_tokens: 200,
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices).toHaveLength(2);
    expect(completion.choices[0]!.message).toMatchObject({ role: 'assistant', content: CONTENT });
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    const cir = (completion as unknown as { cir: any }).cir;
    expect(cir.choices[0]).toMatchObject({ final_answer: '144', tool_calls: { used: 1 } });
    // The user's conversation went through the chat template after the code-interpreter system prompt.
    const prompt = tokenizer().decode(backend.sequences[0]!.tokenIds.slice(0, backend.sequences[0]!.promptLength));
    expect(prompt).toMatch(/^<\|im_start\|>system\nSolve the problem step by step[\s\S]*<\|im_start\|>user\nWhat is 12 squared\?<\|im_end\|>/);
  });

  it('streams deltas that add up to the same content', async () => {
    const stream = await client.chat.completions.create({
      model: 'cir-test',
      messages: [
        { role: 'system', content: 'Use code.' },
        { role: 'user', content: 'What is 12 squared?' },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        content += choice.delta.content ?? '';
        finish = choice.finish_reason ?? finish;
      }
      usage = chunk.usage ?? usage;
    }
    expect(content).toBe(CONTENT);
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    // A conversation with its own system message keeps it.
    const prompt = tokenizer().decode(backend.sequences[0]!.tokenIds.slice(0, backend.sequences[0]!.promptLength));
    expect(prompt).toMatch(/^<\|im_start\|>system\nUse code\.<\|im_end\|>/);
  });

  it('rejects what it cannot do with 400s the client surfaces', async () => {
    const bad = [
      { model: 'cir-test', messages: [] },
      { model: 'cir-test', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] },
      { model: 'cir-test', messages: [{ role: 'user', content: 'x' }], stop: ['\n'] },
      { model: 'cir-test', messages: [{ role: 'assistant', content: 'x' }] },
      { model: 'cir-test', messages: [{ role: 'user', content: 'x' }], max_tool_calls: 99 },
    ];
    for (const body of bad) {
      await expect(client.chat.completions.create(body as never)).rejects.toMatchObject({ status: 400 });
    }
    await expect(client.chat.completions.create({ model: 'other', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404 });
  });
});

function tokenizer() {
  return backend.tokenizer;
}
