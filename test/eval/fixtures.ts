import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execLimits, loadConfig } from '../../api/config.ts';
import { Sandbox } from '../../api/sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';

/** Short problems, so that their prompts fit the fixture model's 256-token context. */
export const MINI_PROBLEMS = [
  { id: 't1', problem: 'What is 1+1?', answer: '2', subject: 'Arithmetic', level: 1 },
  { id: 't2', problem: 'What is 2*3?', answer: '6', subject: 'Arithmetic', level: 2 },
  { id: 't3', problem: 'Compute 10-7.', answer: '3', subject: 'Algebra', level: 1 },
];

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `cir-eval-${prefix}-`));
}

/** A benchmark directory with `mini.jsonl` (and any extra files given). */
export function dataDir(extra: Record<string, string> = {}): string {
  const dir = tempDir('data');
  writeFileSync(join(dir, 'mini.jsonl'), `${MINI_PROBLEMS.map((p) => JSON.stringify(p)).join('\n')}\n`);
  for (const [name, content] of Object.entries(extra)) writeFileSync(join(dir, name), content);
  return dir;
}

/** The real JavaScript sandbox (QuickJS); Python is not needed by these tests. */
export function jsSandbox(): Sandbox {
  return new Sandbox({
    executors: [createQuickJSNodeExecutor({ threads: 1 })],
    limits: execLimits(loadConfig({})),
    queueLimit: 64,
    unavailableReasons: { python: 'not in this test' },
  });
}
