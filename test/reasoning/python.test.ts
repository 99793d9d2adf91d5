import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execLimits, loadConfig } from '../../api/config.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import type { Tokenizer } from '../../api/models/types.ts';
import { solveProblem, type ReasoningSettings } from '../../api/reasoning/index.ts';
import { Sandbox } from '../../api/sandbox/index.ts';
import { createPythonExecutor, probePython } from '../../api/sandbox/python/index.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { ScriptedBackend, type ScriptPiece } from './scripted-backend.ts';

/** The loop with the bubblewrap Python sandbox: sympy output, tracebacks, and cancelling a runaway program. */

const PYTHON_BIN = '/usr/bin/python3';
let tokenizer: Tokenizer;
let sandbox: Sandbox;

beforeAll(async () => {
  const probe = await probePython({ pythonBin: PYTHON_BIN });
  if (!probe.available) throw new Error(`these tests need the Python sandbox (bubblewrap + ${PYTHON_BIN} with sympy): ${probe.reason}`);
  tokenizer = await loadTokenizer(await ensureModel('tiny'));
  sandbox = new Sandbox({ executors: [createPythonExecutor({ pythonBin: PYTHON_BIN, poolSize: 1 })], limits: execLimits(loadConfig({})), queueLimit: 8 });
}, 60_000);

afterAll(async () => {
  await sandbox?.dispose();
});

function solve(script: ScriptPiece[], settings: Partial<ReasoningSettings> = {}, signal?: AbortSignal) {
  const backend = new ScriptedBackend(tokenizer, () => script);
  return solveProblem({ backend, checkpoint: { version: 'test' } }, sandbox, { problem: 'Factor 360.' }, { settings, ...(signal && { signal }) });
}

const outputs = (result: Awaited<ReturnType<typeof solve>>) => result.samples[0]!.segments.filter((s) => s.type === 'output');

describe('rollout with Python', () => {
  it('runs sympy and shows its output', async () => {
    const result = await solve(['```python\nimport sympy\nprint(sympy.factorint(360))\n```\n', '\\boxed{2^3 3^2 5}']);
    expect(outputs(result)[0]).toMatchObject({ status: 'ok', output: '{2: 3, 3: 2, 5: 1}' });
  });

  it('shows the last traceback line by default and the whole traceback when configured', async () => {
    const script = ['```python\nx = 1\nprint("before")\n1 / 0\n```\n', 'Oops.'];
    const short = outputs(await solve(script))[0]!;
    expect(short).toMatchObject({ status: 'error', output: 'before\nZeroDivisionError: division by zero' });
    const full = outputs(await solve(script, { fullTraceback: true }))[0]!;
    expect(full.status).toBe('error');
    expect((full as { output: string }).output).toMatch(/^before\nTraceback \(most recent call last\):[\s\S]*ZeroDivisionError: division by zero$/);
  });

  it('kills a runaway program when the rollout is cancelled, and the sandbox serves the next one', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    const cancelled = await solve(['```python\nwhile True:\n    pass\n```\n', 'never'], {}, controller.signal);
    expect(cancelled.samples[0]!.finishReason).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(3_000);
    const next = await solve(['```python\nprint(6 * 7)\n```\n', 'done']);
    expect(outputs(next)[0]).toMatchObject({ status: 'ok', output: '42' });
  });
});
