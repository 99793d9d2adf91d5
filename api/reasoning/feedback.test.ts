import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../sandbox/types.ts';
import { continuationAfterFence, executionFeedback } from './feedback.ts';

const result = (over: Partial<ExecResult>): ExecResult => ({
  status: 'ok', stdout: '', stderr: '', error: null, truncated: { stdout: false, stderr: false }, duration_ms: 1, executor: 'x', ...over,
});
const options = { fullTraceback: false, maxBytes: 200 };

describe('executionFeedback', () => {
  it('shows stdout, then the error line of a failure (or the whole traceback when asked)', () => {
    expect(executionFeedback(result({ stdout: '42\n' }), options)).toEqual({ body: '42', truncated: false });
    expect(executionFeedback(result({}), options).body).toBe('(no output)');
    const failed = result({ status: 'error', stdout: 'partial\n', stderr: 'Traceback (most recent call last):\n  File "x"\nValueError: bad\n', error: 'ValueError: bad' });
    expect(executionFeedback(failed, options).body).toBe('partial\nValueError: bad');
    expect(executionFeedback(failed, { ...options, fullTraceback: true }).body).toBe('partial\nTraceback (most recent call last):\n  File "x"\nValueError: bad');
    expect(executionFeedback(result({ status: 'timeout', error: 'Timeout: exceeded 5000 ms' }), options).body).toBe('Timeout: exceeded 5000 ms');
  });

  it('caps the joined feedback head + tail and reports truncation from the sandbox too', () => {
    const long = executionFeedback(result({ stdout: `${'a'.repeat(500)}END` }), options);
    expect(long.truncated).toBe(true);
    expect(long.body).toMatch(/^a+\n\.\.\. \[output truncated: \d+ bytes omitted\] \.\.\.\na*END$/);
    expect(executionFeedback(result({ stdout: 'x', truncated: { stdout: true, stderr: false } }), options).truncated).toBe(true);
  });
});

describe('continuationAfterFence', () => {
  it('completes whatever the closing fence token already started', () => {
    expect(continuationAfterFence('', '4')).toBe('\n```output\n4\n```\n');
    expect(continuationAfterFence('\n', '4')).toBe('```output\n4\n```\n');
    expect(continuationAfterFence('\n```out', '4')).toBe('put\n4\n```\n');
    expect(continuationAfterFence('output', '4')).toBe('\n4\n```\n');
    expect(continuationAfterFence(' Now', '4')).toBe('\n```output\n4\n```\n');
    expect(continuationAfterFence('\n\n', '4')).toBe('```output\n4\n```\n');
  });
});
