import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { EMBEDDED_MODEL_NAME, withEmbeddedModel } from '../../cli/embedded-model.ts';
import { generateProblems } from '../../model/tasks/generate.ts';

/**
 * The shipped model (model/default) as `npm start` serves it: no model configured, so the
 * embedded one, over HTTP. What it does (model/README.md "What was run"): it answers an in-family
 * problem in the loop's protocol (a JavaScript block that runs, the output copied into \boxed{}),
 * and solves held-out problems with the tool that it cannot solve without. Thresholds sit well
 * below the measured rates, so they fail when the model or the loop breaks, not on the luck of a
 * small draw.
 */

let dataDir: string;
let server: RunningServer;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cir-embedded-'));
  server = await startNodeServer(
    withEmbeddedModel({ PORT: '0', HOST: '127.0.0.1', CIR_DATA_DIR: dataDir, CIR_PYTHON_EXECUTOR: 'off', CIR_TRAJ_BATCH_MS: '50' }),
  );
}, 120_000);

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const solve = async (body: Record<string, unknown>) => {
  const res = await fetch(`${server.url}/v1/solve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as any };
};

/** Greedy solves of `problems` at one budget. */
async function solveAll(problems: ReturnType<typeof generateProblems>, maxToolCalls: number) {
  return Promise.all(
    problems.map(async (p) => {
      const { status, json } = await solve({ problem: p.text, gold: p.answer, temperature: 0, max_tool_calls: maxToolCalls, max_tokens: 400 });
      expect(status).toBe(200);
      return json.samples[0];
    }),
  );
}

describe('the embedded model', () => {
  it('is what a fresh server serves when no model is configured', async () => {
    const info = (await (await fetch(`${server.url}/v1/info`)).json()) as any;
    expect(info.model.id).toBe(EMBEDDED_MODEL_NAME);
    expect(info.model.backend).toBe('onnx');
    expect(info.model.context_length).toBe(1024);
  });

  it('answers in the loop protocol: code that runs, its output copied into \\boxed{}', async () => {
    const samples = await solveAll(generateProblems({ split: 'seen', count: 24, seed: 424242 }), 2);
    const ran = samples.filter((s) => (s.tool_calls.by_status.ok ?? 0) >= 1);
    const copied = samples.filter((s) => {
      const outputs = s.segments.filter((x: any) => x.type === 'output');
      return outputs.length > 0 && s.final_answer === outputs.at(-1).output.trim();
    });
    expect(ran.length / samples.length).toBeGreaterThanOrEqual(RAN_AT_LEAST);
    expect(copied.length / samples.length).toBeGreaterThanOrEqual(COPIED_AT_LEAST);
  }, 300_000);

  it('solves held-out problems with the tool, and not without it', async () => {
    const problems = generateProblems({ split: 'heldout', count: 32, seed: 99 });
    const withTools = await solveAll(problems, 2);
    const withoutTools = await solveAll(problems, 0);
    expect(withoutTools.every((s) => s.tool_calls.used === 0)).toBe(true);
    const accuracy = (samples: any[]) => samples.filter((s) => s.correct).length / samples.length;
    expect(accuracy(withTools)).toBeGreaterThanOrEqual(HELDOUT_WITH_TOOLS_AT_LEAST);
    expect(accuracy(withTools) - accuracy(withoutTools)).toBeGreaterThanOrEqual(HELDOUT_LIFT_AT_LEAST);
  }, 300_000);

  it('gives a well-formed answer to prompts outside its family, and a clear 400 past its context', async () => {
    for (const problem of ['Natalia sold clips to 48 of her friends in April, and then half as many in May. How many clips did she sell?', 'Écris un poème 😀']) {
      const { status, json } = await solve({ problem, temperature: 0, max_tokens: 256 });
      expect(status).toBe(200);
      expect(['stop', 'length', 'tool_budget']).toContain(json.samples[0].finish_reason);
      expect(json.samples[0].usage.completion_tokens).toBeLessThanOrEqual(256);
    }
    const { status, json } = await solve({ problem: 'x '.repeat(3000) });
    expect(status).toBe(400);
    expect(JSON.stringify(json)).toMatch(/context is 1024 tokens/);
  }, 120_000);
});

/** Set from the shipped model's measured rates (model/README.md), with wide margins. */
const RAN_AT_LEAST = 0.6;
const COPIED_AT_LEAST = 0.5;
const HELDOUT_WITH_TOOLS_AT_LEAST = 0.35;
const HELDOUT_LIFT_AT_LEAST = 0.3;
