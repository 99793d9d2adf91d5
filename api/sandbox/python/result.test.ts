import { describe, expect, it } from 'vitest';
import type { DoneInfo } from './protocol.ts';
import { classify, type RunRecord } from './result.ts';

const clean = { text: '', truncated: false };
const truncated = { text: 'cut', truncated: true };

function record(done: DoneInfo | null, extra: Partial<RunRecord> = {}): RunRecord {
  return { stopped: null, done, oomKilled: false, stdout: clean, stderr: clean, outputBytes: 0, timeoutMs: 1000, memoryMb: 64, maxOutputBytes: 100, ...extra };
}

const exited = (exitCode: number, outcome: DoneInfo['outcome']): DoneInfo => ({ exitCode, signal: null, outcome });
const killed = (signal: number): DoneInfo => ({ exitCode: null, signal, outcome: null });

describe('classify', () => {
  it('is ok only for a clean exit', () => {
    expect(classify(record(exited(0, { kind: 'ok', error: null })))).toEqual({ status: 'ok', error: null });
    expect(classify(record(exited(3, null)))).toEqual({ status: 'error', error: 'exited with status 3' });
  });

  it("passes the snippet's error line through", () => {
    expect(classify(record(exited(1, { kind: 'error', error: 'NameError: x' })))).toEqual({ status: 'error', error: 'NameError: x' });
  });

  it('puts what Node did first', () => {
    const memory = exited(1, { kind: 'memory', error: 'MemoryError' });
    expect(classify(record(memory, { stopped: 'timeout' })).status).toBe('timeout');
    expect(classify(record(null, { stopped: 'output_limit' })).status).toBe('output_limit');
    expect(classify(record(memory, { stdout: truncated }))).toEqual({ status: 'memory', error: 'MemoryError' });
  });

  it('maps fatal signals', () => {
    expect(classify(record(killed(24)))).toEqual({ status: 'timeout', error: 'CPU time limit exceeded' });
    expect(classify(record(killed(9))).status).toBe('memory');
    expect(classify(record(killed(11)))).toEqual({ status: 'error', error: 'killed by SIGSEGV' });
  });

  it('reports truncated output, keeping the snippet error if there was one', () => {
    expect(classify(record(exited(0, { kind: 'ok', error: null }), { stderr: truncated }))).toEqual({
      status: 'output_limit',
      error: 'output exceeded max_output_bytes (100) and was truncated',
    });
    expect(classify(record(exited(1, { kind: 'error', error: 'OSError: x' }), { stdout: truncated }))).toEqual({
      status: 'output_limit',
      error: 'OSError: x',
    });
  });

  it("reports the cgroup's out-of-memory kill as memory, whatever else the run did", () => {
    const oom = { status: 'memory', error: expect.stringMatching(/^memory limit exceeded: .*memory_mb \(64 MiB\)/) };
    expect(classify(record(exited(0, { kind: 'ok', error: null }), { oomKilled: true }))).toEqual(oom); // a child was killed
    expect(classify(record(killed(9), { oomKilled: true }))).toEqual(oom);
    expect(classify(record(null, { oomKilled: true }))).toEqual(oom); // the sandbox itself was killed
    expect(classify(record(exited(1, { kind: 'memory', error: 'MemoryError' }), { oomKilled: true }))).toEqual({ status: 'memory', error: 'MemoryError' });
    expect(classify(record(null, { oomKilled: true, stopped: 'timeout' })).status).toBe('timeout');
  });

  it('says so when the sandbox itself died', () => {
    expect(classify(record(null)).status).toBe('error');
  });
});
