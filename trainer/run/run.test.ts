import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { budgetAt, parseBudgetSchedule } from './budget.ts';
import { appendMetrics, readMetrics, writePlots } from './metrics.ts';
import { Progress } from './progress.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-run-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('tool budget schedule', () => {
  it('parses schedules and gives the limit in force at each step', () => {
    const schedule = parseBudgetSchedule('0:2, 40:3,80:4');
    expect([0, 39, 40, 79, 80, 1000].map((s) => budgetAt(schedule, s))).toEqual([2, 2, 3, 3, 4, 4]);
    expect(parseBudgetSchedule('3')).toEqual([{ step: 0, limit: 3 }]);
    expect(() => parseBudgetSchedule('10:2')).toThrow('must start at step 0');
    expect(() => parseBudgetSchedule('0:2,5:3,5:4')).toThrow('strictly increasing');
    expect(() => parseBudgetSchedule('0=2')).toThrow('is not step:limit');
  });
});

describe('metrics.jsonl', () => {
  it('appends one line per step, and repairs a torn tail or a line of a step redone after a crash', async () => {
    const path = join(dir, 'metrics.jsonl');
    await appendMetrics(path, { step: 1, reward: 0.1 });
    await appendMetrics(path, { step: 2, reward: 0.2 });
    expect((await readMetrics(path)).map((m) => m.step)).toEqual([1, 2]);

    await writeFile(path, `${await readFile(path, 'utf8')}{"step": 3, "rew`); // crash mid-append
    await appendMetrics(path, { step: 3, reward: 0.3 });
    expect(await readFile(path, 'utf8')).toBe('{"step":1,"reward":0.1}\n{"step":2,"reward":0.2}\n{"step":3,"reward":0.3}\n');

    await appendMetrics(path, { step: 3, reward: 0.33 }); // the same step again: replaced, not doubled
    expect((await readMetrics(path)).map((m) => [m.step, m.reward])).toEqual([[1, 0.1], [2, 0.2], [3, 0.33]]);
  });

  it('draws the plots', async () => {
    const files = await writePlots(join(dir, 'plots'), [
      { step: 1, reward: -0.5, accuracy: 0.25, entropy: 3, clip_fraction: 0, tool_call_rate: 1, response_length: 40, loss: 0.1 },
      { step: 2, reward: 0, accuracy: 0.5, entropy: 2.9, clip_fraction: 0.01, tool_call_rate: 0.9, response_length: 44, loss: 0.05 },
    ], 'run test');
    expect(files.map((f) => f.slice(dir.length + 7))).toEqual(['reward.svg', 'tool-calls.svg', 'response-length.svg', 'entropy.svg', 'clip-fraction.svg', 'loss.svg']);
    const svg = await readFile(files[0]!, 'utf8');
    expect(svg).toContain('Reward and accuracy');
    expect(svg).toContain('mean reward');
  });
});

describe('Progress', () => {
  const capture = (tty: boolean) => {
    const stream = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 });
    let out = '';
    stream.on('data', (d) => (out += d));
    return { progress: new Progress(stream), out: () => out };
  };

  it('redraws one bar in place on a terminal', () => {
    const { progress, out } = capture(true);
    progress.update('step 1', 0, 4);
    progress.update('step 1', 4, 4, 'done');
    progress.line('published');
    expect(out()).toContain('\r\x1b[2Kstep 1 [');
    expect(out()).toContain('4/4  done');
    expect(out().endsWith('\npublished\n')).toBe(true);
  });

  it('writes a few plain lines elsewhere', () => {
    const { progress, out } = capture(false);
    for (let i = 0; i <= 100; i++) progress.update('consuming', i, 100);
    expect(out().split('\n').filter(Boolean)).toEqual(['consuming 0/100', 'consuming 25/100', 'consuming 50/100', 'consuming 75/100', 'consuming 100/100']);
    expect(out()).not.toContain('\r');
  });
});
