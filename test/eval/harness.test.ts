import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelBackend, RemoteModelError, type ModelBackend } from '../../api/models/index.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import type { ServedModel } from '../../api/models/served.ts';
import { solveProblem } from '../../api/reasoning/index.ts';
import type { Sandbox } from '../../api/sandbox/index.ts';
import { BenchmarkError } from '../../eval/benchmarks.ts';
import { EvalInputError, prepareEval, type EvalPlan } from '../../eval/harness.ts';
import { problemSeed, type EvalProgress, type SolveFn } from '../../eval/runner.ts';
import { buildRunOutputs } from '../../eval/report.ts';
import { readRun, RunDirError } from '../../eval/store.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { ScriptedBackend } from '../reasoning/scripted-backend.ts';
import { dataDir, jsSandbox, tempDir } from './fixtures.ts';

/**
 * The harness end to end through the real reasoning loop and the real QuickJS sandbox: a scripted
 * model (known answers and code, so every figure can be checked by hand) and the random-weight
 * fixture model (real generation: resumability, interruption, determinism of resumed samples).
 */

let sandbox: Sandbox;
let tiny: ModelBackend;
let tinyServed: ServedModel;
let scriptedServed: ServedModel;
let data: string;

beforeAll(async () => {
  const dir = await ensureModel('tiny');
  sandbox = jsSandbox();
  tiny = await loadModelBackend({ kind: 'onnx', dir, threads: 1 });
  tinyServed = { backend: tiny, checkpoint: { version: 'tiny-fixture' } };
  // Sample 0 computes 1+1 with code; sample 1 runs failing code and answers 6; sample 2 answers 2 without code.
  const scripts = [
    ['Let me compute.\n```javascript\nconsole.log(1 + 1)\n```\n', 'So \\boxed{2}.'],
    ['Try code.\n```javascript\nthrow new Error("oops")\n```\n', 'Then \\boxed{6}.'],
    ['Easy: \\boxed{2}.'],
  ];
  scriptedServed = { backend: new ScriptedBackend(await loadTokenizer(dir), (i) => scripts[i] ?? ['\\boxed{0}'], { id: 'scripted' }), checkpoint: { version: 'script-1' } };
  data = dataDir({ 'broken.jsonl': '{"id":"a","problem":"x","answer":"1"}\n{"id":"b","problem":"y"}\nnot json\n' });
}, 120_000);

afterAll(async () => {
  await Promise.all([sandbox?.dispose(), tiny?.dispose()]);
});

function plan(over: Partial<Omit<EvalPlan, 'settings'>> & { settings?: Partial<EvalPlan['settings']> } = {}): EvalPlan {
  return {
    benchmarks: ['mini'],
    dataDir: data,
    outDir: tempDir('run'),
    backendLabel: 'test',
    ...over,
    settings: { greedy: false, k: 2, temperature: 1, topP: 0.95, maxToolCalls: 2, maxTokens: 24, seed: 7, concurrency: 2, retries: 0, retryDelayMs: 1, ...over.settings },
  };
}

/** Counts the samples the harness asks the loop for. */
function countingSolve(inner: SolveFn = solveProblem): SolveFn & { requested: number } {
  const solve = (async (served, sb, request, options) => {
    solve.requested += request.n ?? 1;
    return inner(served, sb, request, options);
  }) as SolveFn & { requested: number };
  solve.requested = 0;
  return solve;
}

const lines = (dir: string) => readFileSync(join(dir, 'samples.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('metrics through the real loop (scripted model)', () => {
  it('grades, counts tool use and writes summary, report and plots', async () => {
    const p = plan({ limit: 2, settings: { k: 3, maxTokens: 200 } });
    const prepared = prepareEval(p, { served: () => scriptedServed, sandbox });
    const { outcome, summary } = await prepared.run();
    expect(outcome).toEqual({ status: 'done', done: 6, total: 6 });

    const records = lines(p.outDir);
    expect(records).toHaveLength(6);
    const t1 = records.filter((r) => r.id === 't1').sort((a, b) => a.sample - b.sample);
    expect(t1.map((r) => [r.answer, r.correct, r.tool_calls, r.tool_statuses])).toEqual([
      ['2', true, 1, ['ok']],
      ['6', false, 1, ['error']],
      ['2', true, 0, []],
    ]);
    expect(t1[0].transcript).toContain('```output\n2');
    expect(t1[1].exec_errors).toBe(1);

    const b = summary.metrics.benchmarks[0]!;
    // t1: 2 of 3 correct, t2 (answer 6): 1 of 3.
    expect(b.accuracy).toBeCloseTo(0.5, 12);
    expect(b.pass_at_k['pass@2']).toBeCloseTo((1 + (1 - 1 / 3)) / 2, 12);
    expect(b.pass_at_k['pass@3']).toBe(1);
    const t = summary.metrics.tool_use;
    expect(t.calls_per_solution).toBeCloseTo(4 / 6, 12);
    expect(t.exec_error_rate).toBe(0.5);
    expect(t.code_usage_rate).toBeCloseTo(4 / 6, 12);
    expect(t.accuracy_with_code).toBe(0.5); // t1 s0 and t2 s1 of the four
    expect(t.accuracy_without_code).toBe(0.5);
    expect(t.accuracy_after_exec_error).toBe(0.5);
    expect(t.by_calls).toEqual([{ calls: 0, samples: 2, accuracy: 0.5 }, { calls: 1, samples: 4, accuracy: 0.5 }]);
    expect(b.by_level).toEqual([
      { key: '1', problems: 1, samples: 3, accuracy: 2 / 3 },
      { key: '2', problems: 1, samples: 3, accuracy: 1 / 3 },
    ]);

    const saved = JSON.parse(readFileSync(join(p.outDir, 'summary.json'), 'utf8'));
    expect(saved.status).toBe('done');
    expect(saved.metrics.benchmarks[0].accuracy).toBeCloseTo(0.5, 12);
    const report = readFileSync(join(p.outDir, 'report.md'), 'utf8');
    expect(report).toContain('| mini | 2 | 6 | 50.0% | 83.3% | 100.0% |');
    expect(report).toContain('| mini | 0.67 | 66.7% | 50.0% | 50.0% | 50.0% | 50.0% (2) |');
    expect(report).toContain('![Accuracy per benchmark](plots/accuracy.svg)');
    for (const plot of ['plots/accuracy.svg', 'plots/accuracy-vs-executions.svg', 'plots/pass-at-k.svg']) {
      expect(readFileSync(join(p.outDir, plot), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\n$/);
    }
    // pass@k against k (1, 2, 3), listed in the report.
    expect(report).toContain('![pass@k by k](plots/pass-at-k.svg)');
    const passPlot = readFileSync(join(p.outDir, 'plots/pass-at-k.svg'), 'utf8');
    expect(passPlot).toContain('pass@k by k');
    const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(texts(passPlot)).toEqual(expect.arrayContaining(['1', '2', '3', 'k (samples drawn per problem)']));
    expect(passPlot.match(/<circle/g)).toHaveLength(3);
    // Each accuracy-by-executions point says how many solutions it rests on: 2 without code, 4 with one execution.
    expect(texts(readFileSync(join(p.outDir, 'plots/accuracy-vs-executions.svg'), 'utf8'))).toEqual(expect.arrayContaining(['n=2', 'n=4']));
  });

  it('reports the latest plan when --limit changes on a run directory, keeping the samples outside it', async () => {
    const p = plan({ limit: 2, settings: { k: 3, maxTokens: 200 } });
    await prepareEval(p, { served: () => scriptedServed, sandbox }).run();
    // t1 is right in 2 of 3 samples, t2 in 1 of 3, t3 in none (the scripts answer 2, 6, 2).
    const fewer = prepareEval({ ...p, limit: 1 }, { served: () => scriptedServed, sandbox });
    expect([fewer.alreadyDone, fewer.total, fewer.outsidePlan]).toEqual([3, 3, { problems: 1, samples: 3 }]);
    const { outcome, summary } = await fewer.run();
    expect(outcome).toEqual({ status: 'done', done: 3, total: 3 });
    expect(summary.progress).toEqual({ done: 3, total: 3 });
    expect(summary.outside_plan).toEqual({ problems: 1, samples: 3 });
    expect(summary.metrics.benchmarks[0]).toMatchObject({ problems: 1, problems_evaluated: 1, samples: 3 });
    expect(summary.metrics.benchmarks[0]!.accuracy).toBeCloseTo(2 / 3, 12);
    expect(summary.metrics.tool_use.samples).toBe(3);
    const report = readFileSync(join(p.outDir, 'report.md'), 'utf8');
    expect(report).toContain('| mini | 1 | 3 | 66.7% |');
    expect(report).toContain('This report covers the first 1 problem of each benchmark (the latest invocation); the run directory also holds 3 samples of 1 problem outside it');
    // Rebuilt from disk (cir eval report), the figures are the same.
    const onDisk = readRun(p.outDir);
    expect(buildRunOutputs(onDisk.config, onDisk.records, 'done').summary.metrics).toEqual(summary.metrics);
    expect(lines(p.outDir)).toHaveLength(6);

    // Without --limit: every problem, the earlier samples reused, only t3 generated.
    const solve = countingSolve();
    const all = await prepareEval({ ...p, limit: undefined }, { served: () => scriptedServed, sandbox, solve }).run();
    expect(solve.requested).toBe(3);
    expect(all.summary.outside_plan).toEqual({ problems: 0, samples: 0 });
    expect(all.summary.metrics.benchmarks[0]).toMatchObject({ problems: 3, problems_evaluated: 3, samples: 9 });
    expect(all.summary.metrics.benchmarks[0]!.accuracy).toBeCloseTo(1 / 3, 12);
    expect(readFileSync(join(p.outDir, 'report.md'), 'utf8')).not.toContain('outside it');
  });

  it('runs greedy as one sample per problem at temperature 0', async () => {
    const p = plan({ settings: { greedy: true, maxTokens: 200 } });
    const { summary } = await prepareEval(p, { served: () => scriptedServed, sandbox }).run();
    expect(summary.metrics.metric).toBe('accuracy');
    expect(summary.settings).toMatchObject({ greedy: true, k: 1, temperature: 0 });
    // Sample 0's script answers 2: right for t1 only.
    expect(summary.metrics.benchmarks[0]!.accuracy).toBeCloseTo(1 / 3, 12);
    expect(readRun(p.outDir).config.top_p).toBe(1);
    // One sample per problem: no pass@k curve.
    expect(existsSync(join(p.outDir, 'plots/pass-at-k.svg'))).toBe(false);
    expect(readFileSync(join(p.outDir, 'report.md'), 'utf8')).not.toContain('pass-at-k');
  });
});

describe('long runs on the fixture model', () => {
  it('stops on abort keeping finished samples, and a re-run does exactly the rest, identical to a fresh run', async () => {
    const p = plan();
    const first = prepareEval(p, { served: () => tinyServed, sandbox });
    expect(first.total).toBe(6);
    const controller = new AbortController();
    const seen: EvalProgress[] = [];
    const { outcome } = await first.run({
      signal: controller.signal,
      onProgress: (progress) => {
        seen.push(progress);
        if (progress.finishedNow >= 1) controller.abort();
      },
    });
    expect(outcome.status).toBe('interrupted');
    const kept = lines(p.outDir);
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThan(6);
    expect(JSON.parse(readFileSync(join(p.outDir, 'summary.json'), 'utf8')).status).toBe('interrupted');
    expect(readFileSync(join(p.outDir, 'report.md'), 'utf8')).toContain('re-run the same command to resume');

    const solve = countingSolve();
    const second = prepareEval(p, { served: () => tinyServed, sandbox, solve });
    expect(second.alreadyDone).toBe(kept.length);
    const resumed = await second.run();
    expect(resumed.outcome).toEqual({ status: 'done', done: 6, total: 6 });
    expect(solve.requested).toBe(6 - kept.length);
    const all = lines(p.outDir);
    expect(all).toHaveLength(6);
    expect(all.slice(0, kept.length)).toEqual(kept);
    expect(new Set(all.map((r) => `${r.id}/${r.sample}`)).size).toBe(6);

    // Seeds are per problem and sample, so the resumed run equals an uninterrupted one.
    const fresh = plan();
    await prepareEval(fresh, { served: () => tinyServed, sandbox }).run();
    const key = (r: { id: string; sample: number }) => `${r.id}/${r.sample}`;
    const transcripts = (rs: { id: string; sample: number; transcript: string }[]) => Object.fromEntries(rs.map((r) => [key(r), r.transcript]));
    expect(transcripts(all)).toEqual(transcripts(lines(fresh.outDir)));

    // Nothing left: a third invocation generates nothing.
    const idle = countingSolve();
    expect((await prepareEval(p, { served: () => tinyServed, sandbox, solve: idle }).run()).outcome.status).toBe('done');
    expect(idle.requested).toBe(0);
  });

  it('drops a last line cut off by a crash and redoes that sample', async () => {
    const p = plan({ limit: 1 });
    await prepareEval(p, { served: () => tinyServed, sandbox }).run();
    const file = join(p.outDir, 'samples.jsonl');
    const [keep] = readFileSync(file, 'utf8').split('\n');
    writeFileSync(file, `${keep}\n`);
    appendFileSync(file, '{"v":1,"bench":"mini","id":"t1","sam'); // torn write
    const solve = countingSolve();
    const again = prepareEval(p, { served: () => tinyServed, sandbox, solve });
    expect(again.alreadyDone).toBe(1);
    await again.run();
    expect(solve.requested).toBe(1);
    expect(lines(p.outDir)).toHaveLength(2);
  });

  it('splits k above the model batch size into groups, each sample keeping its seed (problem seed + index)', async () => {
    const small = await loadModelBackend({ kind: 'onnx', dir: await ensureModel('tiny'), threads: 1, maxN: 2 });
    try {
      const groups: { n: number; seed: number }[] = [];
      const recording: SolveFn = (served, sb, request, options) => {
        groups.push({ n: request.n ?? 1, seed: request.seed! });
        return solveProblem(served, sb, request, options);
      };
      const split = plan({ limit: 1, settings: { k: 5, maxTokens: 16 } });
      const prepared = prepareEval(split, { served: () => ({ backend: small, checkpoint: { version: 'tiny-fixture' } }), sandbox, solve: recording });
      expect(prepared.total).toBe(5);
      expect((await prepared.run()).outcome).toEqual({ status: 'done', done: 5, total: 5 });
      const base = problemSeed(7, 'mini', 't1');
      expect(groups).toEqual([{ n: 2, seed: base }, { n: 2, seed: base + 2 }, { n: 1, seed: base + 4 }]);
      // The same samples as one group of 5 on a model that takes them at once.
      const whole = plan({ limit: 1, settings: { k: 5, maxTokens: 16 } });
      await prepareEval(whole, { served: () => tinyServed, sandbox }).run();
      const transcripts = (dir: string) => Object.fromEntries(lines(dir).map((r) => [r.sample, r.transcript]));
      expect(transcripts(split.outDir)).toEqual(transcripts(whole.outDir));
      expect(new Set(Object.values(transcripts(split.outDir))).size).toBe(5);
    } finally {
      await small.dispose();
    }
  });

  it('records a problem longer than the context as a wrong sample with its reason, without retrying', async () => {
    const long = dataDir({ 'long.jsonl': `${JSON.stringify({ id: 'big', problem: 'word '.repeat(400), answer: '1' })}\n` });
    const p = plan({ benchmarks: ['long'], dataDir: long, settings: { retries: 3 } });
    const { outcome, summary } = await prepareEval(p, { served: () => tinyServed, sandbox }).run();
    expect(outcome.status).toBe('done');
    const [record] = lines(p.outDir);
    expect(record).toMatchObject({ correct: false, finish_reason: 'error' });
    expect(record.error).toMatch(/prompt is \d+ tokens; the model's context is 256 tokens/);
    expect(summary.metrics.benchmarks[0]!.errors).toBe(2);
  });
});

describe('backend failures', () => {
  it('retries a failing problem with backoff and goes on when the backend recovers', async () => {
    let failures = 2;
    const flaky: SolveFn = async (...args) => {
      if (failures-- > 0) throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
      return solveProblem(...args);
    };
    const p = plan({ limit: 1, settings: { retries: 3, retryDelayMs: 5, concurrency: 1 } });
    const retries: EvalProgress['retry'][] = [];
    const { outcome } = await prepareEval(p, { served: () => tinyServed, sandbox, solve: flaky }).run({ onProgress: (pr) => pr.retry && retries.push(pr.retry) });
    expect(outcome.status).toBe('done');
    expect(retries).toEqual([
      { attempt: 1, of: 3, inMs: 5, error: 'fetch failed (connect ECONNREFUSED 127.0.0.1:9)' },
      { attempt: 2, of: 3, inMs: 10, error: 'fetch failed (connect ECONNREFUSED 127.0.0.1:9)' },
    ]);
  });

  it('stops resumable with a clear message when the retries are spent', async () => {
    const p = plan({ settings: { retries: 1, retryDelayMs: 1, concurrency: 1 } });
    let calls = 0;
    const diesAfterOne: SolveFn = async (...args) => {
      if (++calls > 1) throw new Error('connect ECONNREFUSED 127.0.0.1:8000');
      return solveProblem(...args);
    };
    const { outcome, summary } = await prepareEval(p, { served: () => tinyServed, sandbox, solve: diesAfterOne }).run();
    expect(outcome).toMatchObject({ status: 'failed', done: 2, total: 6 });
    expect(outcome.status === 'failed' && outcome.error).toBe('mini/t2: the model backend failed 2 times in a row: connect ECONNREFUSED 127.0.0.1:8000');
    expect(summary.status).toBe('failed');
    expect(readFileSync(join(p.outDir, 'report.md'), 'utf8')).toContain('stopped: mini/t2: the model backend failed');
    const resumed = await prepareEval(p, { served: () => tinyServed, sandbox }).run();
    expect(resumed.outcome).toEqual({ status: 'done', done: 6, total: 6 });
  });

  it('stops at once, without retrying, when the server refuses the request itself', async () => {
    let calls = 0;
    const refused: SolveFn = async () => {
      calls++;
      throw new RemoteModelError('http://127.0.0.1:8000/v1/completions: HTTP 401: invalid API key', 401);
    };
    const p = plan({ settings: { retries: 5, retryDelayMs: 1, concurrency: 1 } });
    const { outcome } = await prepareEval(p, { served: () => tinyServed, sandbox, solve: refused }).run();
    expect(outcome).toMatchObject({ status: 'failed', done: 0, error: 'mini/t1: the model server refused the request: http://127.0.0.1:8000/v1/completions: HTTP 401: invalid API key' });
    expect(calls).toBe(1);
  });
});

describe('bad input is refused before any generation', () => {
  const deps = () => ({ served: () => tinyServed, sandbox });

  it('names a missing benchmark and what the directory has', () => {
    expect(() => prepareEval(plan({ benchmarks: ['mini', 'nope'] }), deps())).toThrow(BenchmarkError);
    expect(() => prepareEval(plan({ benchmarks: ['nope'] }), deps())).toThrow(/benchmark "nope": no file .*nope\.jsonl \(.* has: broken, mini\)/);
  });

  it('reports malformed lines as file:line', () => {
    let message = '';
    try {
      prepareEval(plan({ benchmarks: ['broken'] }), deps());
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('2 malformed lines');
    expect(message).toMatch(/broken\.jsonl:2: answer: /);
    expect(message).toMatch(/broken\.jsonl:3: not valid JSON/);
  });

  it('refuses k, limits and token budgets out of range', () => {
    expect(() => prepareEval(plan({ settings: { k: 0 } }), deps())).toThrow('k must be an integer in [1, 1024], got 0');
    expect(() => prepareEval(plan({ settings: { k: 1025 } }), deps())).toThrow('k must be an integer in [1, 1024], got 1025');
    expect(prepareEval(plan({ settings: { k: 1024 } }), deps()).total).toBe(3 * 1024);
    expect(() => prepareEval(plan({ limit: 0 }), deps())).toThrow('limit must be an integer in [1, 10000000], got 0');
    expect(() => prepareEval(plan({ settings: { maxTokens: 10_000 } }), deps())).toThrow('max tokens must be an integer in [1, 256], got 10000');
    expect(() => prepareEval(plan({ settings: { maxToolCalls: -1 } }), deps())).toThrow(EvalInputError);
    expect(() => prepareEval(plan({ settings: { temperature: 0 } }), deps())).toThrow(/use greedy for 0/);
  });

  it('refuses to mix settings in one run directory', async () => {
    const p = plan({ limit: 1 });
    prepareEval(p, deps());
    expect(() => prepareEval({ ...p, settings: { ...p.settings, k: 4 } }, deps())).toThrow(RunDirError);
    expect(() => prepareEval({ ...p, settings: { ...p.settings, k: 4 } }, deps())).toThrow(/other settings \(k: 2 → 4\)/);
  });
});
