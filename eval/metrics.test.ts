import { describe, expect, it } from 'vitest';
import { computeMetrics, countExecErrors, groupAccuracy, passAtK, passKs, toolUseStats } from './metrics.ts';
import type { SampleRecord } from './record.ts';

function rec(over: Partial<SampleRecord> & Pick<SampleRecord, 'bench' | 'id' | 'sample' | 'correct'>): SampleRecord {
  return {
    v: 1,
    gold: '1',
    answer: over.correct ? '1' : '2',
    finish_reason: 'stop',
    tool_calls: 0,
    tool_statuses: [],
    exec_errors: 0,
    response_tokens: 10,
    tool_tokens: 0,
    prompt_tokens: 5,
    duration_ms: 1,
    model: 'm',
    checkpoint: 'static',
    transcript: '',
    ...over,
  };
}

describe('passAtK (unbiased estimator)', () => {
  it('matches hand-computed values', () => {
    expect(passAtK(5, 2, 1)).toBeCloseTo(0.4, 12); // c / n
    expect(passAtK(4, 1, 2)).toBeCloseTo(1 - 3 / 6, 12); // 1 - C(3,2)/C(4,2)
    expect(passAtK(10, 3, 4)).toBeCloseTo(1 - 35 / 210, 12); // 1 - C(7,4)/C(10,4)
    expect(passAtK(4, 0, 2)).toBe(0);
    expect(passAtK(4, 3, 2)).toBe(1); // fewer than k wrong samples: any k contain a correct one
    expect(passAtK(16, 1, 16)).toBe(1);
    expect(passAtK(1000, 1, 1)).toBeCloseTo(0.001, 12);
  });

  it('rejects k > n and counts out of range', () => {
    expect(() => passAtK(2, 1, 4)).toThrow('pass@4 needs at least 4 samples, got 2');
    expect(() => passAtK(4, 5, 1)).toThrow(RangeError);
    expect(() => passAtK(4, 1, 0)).toThrow(RangeError);
  });

  it('reports pass@ powers of two up to k', () => {
    expect(passKs(16)).toEqual([1, 2, 4, 8, 16]);
    expect(passKs(5)).toEqual([1, 2, 4, 5]);
    expect(passKs(1)).toEqual([1]);
  });
});

describe('computeMetrics', () => {
  // math: p1 1/4 correct, p2 2/4 correct; amc: p3 only 2 of 4 samples so far, 1 correct.
  const records: SampleRecord[] = [
    ...[true, false, false, false].map((correct, sample) => rec({ bench: 'math', id: 'p1', sample, correct, subject: 'Algebra', level: '2' })),
    ...[true, true, false, false].map((correct, sample) => rec({ bench: 'math', id: 'p2', sample, correct, subject: 'Geometry', level: '10' })),
    rec({ bench: 'amc', id: 'p3', sample: 0, correct: true }),
    rec({ bench: 'amc', id: 'p3', sample: 1, correct: false, finish_reason: 'error', error: 'prompt too long' }),
    rec({ bench: 'other', id: 'x', sample: 0, correct: true }),
  ];
  const plan = { benchmarks: [{ name: 'math', problems: 2 }, { name: 'amc', problems: 3 }], k: 4, greedy: false };

  it('computes avg@k and pass@k per benchmark and their unweighted mean', () => {
    const m = computeMetrics(records, plan);
    expect(m.metric).toBe('avg@4');
    const [math, amc] = m.benchmarks;
    expect(math!.accuracy).toBeCloseTo((0.25 + 0.5) / 2, 12);
    expect(math!.pass_at_k['pass@1']).toBeCloseTo(0.375, 12);
    expect(math!.pass_at_k['pass@2']).toBeCloseTo((0.5 + (1 - 1 / 6)) / 2, 12);
    expect(math!.pass_at_k['pass@4']).toBe(1);
    expect(math!.problems_complete).toBe(2);
    expect(amc!.accuracy).toBe(0.5);
    expect(amc!.problems).toBe(3);
    expect(amc!.problems_evaluated).toBe(1);
    expect(amc!.problems_complete).toBe(0);
    expect(amc!.pass_at_k['pass@2']).toBe(1);
    expect(amc!.pass_at_k['pass@4']).toBeNull(); // no problem has 4 samples yet
    expect(amc!.errors).toBe(1);
    expect(amc!.finish_reasons).toEqual({ stop: 1, error: 1 });
    expect(m.average.accuracy).toBeCloseTo((0.375 + 0.5) / 2, 12);
    expect(m.average.pass_at_k['pass@4']).toBe(1); // mean over benchmarks that have it
    expect(m.tool_use.samples).toBe(9); // the benchmark outside the plan and the sample that could not run are left out
  });

  it('computes greedy accuracy without pass@k', () => {
    const greedy = [rec({ bench: 'b', id: '1', sample: 0, correct: true }), rec({ bench: 'b', id: '2', sample: 0, correct: false }), rec({ bench: 'b', id: '3', sample: 0, correct: true })];
    const m = computeMetrics(greedy, { benchmarks: [{ name: 'b', problems: 3 }, { name: 'empty', problems: 5 }], k: 16, greedy: true });
    expect(m.metric).toBe('accuracy');
    expect(m.k).toBe(1);
    expect(m.benchmarks[0]!.accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.benchmarks[0]!.pass_at_k).toEqual({});
    expect(m.benchmarks[1]!.accuracy).toBeNull();
    expect(m.average).toEqual({ accuracy: 2 / 3, pass_at_k: {}, benchmarks: 1 });
  });

  it('breaks accuracy down by subject and level, problem-averaged, levels in numeric order', () => {
    const m = computeMetrics(records, plan);
    expect(m.benchmarks[0]!.by_subject).toEqual([
      { key: 'Algebra', problems: 1, samples: 4, accuracy: 0.25 },
      { key: 'Geometry', problems: 1, samples: 4, accuracy: 0.5 },
    ]);
    expect(m.benchmarks[0]!.by_level.map((g) => g.key)).toEqual(['2', '10']);
    expect(m.benchmarks[1]!.by_subject).toEqual([]);
    // Problem-averaged: a problem with many samples does not outweigh one with few.
    const uneven = [rec({ bench: 'b', id: '1', sample: 0, correct: true, subject: 's' }), ...[0, 1, 2].map((sample) => rec({ bench: 'b', id: '2', sample, correct: false, subject: 's' }))];
    expect(groupAccuracy(uneven, (r) => r.subject)).toEqual([{ key: 's', problems: 2, samples: 4, accuracy: 0.5 }]);
  });
});

describe('toolUseStats', () => {
  const records = [
    rec({ bench: 'b', id: '1', sample: 0, correct: true, response_tokens: 100 }),
    rec({ bench: 'b', id: '2', sample: 0, correct: true, response_tokens: 200, tool_calls: 2, tool_statuses: ['ok', 'error'], exec_errors: 1, tool_tokens: 30 }),
    rec({ bench: 'b', id: '3', sample: 0, correct: false, response_tokens: 300, tool_calls: 1, tool_statuses: ['timeout'], exec_errors: 1, tool_tokens: 20 }),
    rec({ bench: 'b', id: '4', sample: 0, correct: false, response_tokens: 400, tool_calls: 2, tool_statuses: ['ok', 'ok', 'skipped'], tool_tokens: 10 }),
  ];

  it('matches hand-computed figures', () => {
    const t = toolUseStats(records);
    expect(t.calls_per_solution).toBe(1.25);
    expect(t.executions).toBe(5);
    expect(t.exec_errors).toBe(2);
    expect(t.exec_error_rate).toBe(0.4);
    expect(t.code_usage_rate).toBe(0.75);
    expect(t.samples_with_code).toBe(3);
    expect(t.accuracy_with_code).toBeCloseTo(1 / 3, 12);
    expect(t.accuracy_without_code).toBe(1);
    expect(t.response_tokens).toEqual({ mean: 250, correct: 150, incorrect: 350, with_code: 300, without_code: 100 });
    expect(t.tool_tokens_mean).toBe(15);
    expect(t.samples_with_exec_error).toBe(2);
    expect(t.accuracy_after_exec_error).toBe(0.5);
    expect(t.skipped_calls).toBe(1);
    expect(t.by_calls).toEqual([
      { calls: 0, samples: 1, accuracy: 1 },
      { calls: 1, samples: 1, accuracy: 0 },
      { calls: 2, samples: 2, accuracy: 0.5 },
    ]);
  });

  it('reports null where a rate has no denominator', () => {
    const t = toolUseStats([rec({ bench: 'b', id: '1', sample: 0, correct: false })]);
    expect(t.exec_error_rate).toBeNull();
    expect(t.accuracy_with_code).toBeNull();
    expect(t.accuracy_after_exec_error).toBeNull();
    expect(toolUseStats([]).calls_per_solution).toBe(0);
  });

  it('counts error, timeout, memory and output_limit as failed executions', () => {
    expect(countExecErrors(['ok', 'error', 'timeout', 'memory', 'output_limit', 'skipped'])).toBe(4);
  });
});
