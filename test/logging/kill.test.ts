import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrajectoryLoggingFromEnv } from '../../core/logging/from-env.ts';
import { readTrajectories } from '../../core/logging/read.ts';
import { decodeQueueMessage } from '../../core/schemas/queue-message.ts';
import { ensureModel } from '../../scripts/make-model.ts';

/**
 * A SIGKILL of the server right after it answered: every trajectory of every answered request is
 * delivered once the next process starts (the write-ahead log), though the batch they were in was
 * still open (CIR_TRAJ_BATCH_MS far away).
 */
const BIN = join(import.meta.dirname, '../../bin/cir.mjs');
let dataDir: string;
let modelDir: string;

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
  dataDir = await mkdtemp(join(tmpdir(), 'cir-kill-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

const env = () => ({ CIR_DATA_DIR: dataDir, CIR_TRAJ_BATCH_MS: '600000', CIR_TRAJ_BATCH_RECORDS: '100000' });

describe('trajectories across a SIGKILL of the server', () => {
  it('loses none that belong to an answered request', async () => {
    const server = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, ...env(), PORT: '0', CIR_MODEL_DIR: modelDir, CIR_PYTHON_EXECUTOR: 'off', CIR_MODEL_THREADS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      server.stderr!.on('data', (d) => {
        stderr += d;
        const match = /listening on (\S+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      server.on('exit', (code) => reject(new Error(`cir serve exited (${code}): ${stderr}`)));
    });
    const answered: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const response = await fetch(`${url}/v1/solve`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ problem: `What is ${i} + ${i}?`, gold: String(2 * i), n: 2, max_tokens: 6, seed: i }),
        });
        expect(response.status).toBe(200);
        const body = (await response.json()) as { samples: { trajectory_id: string }[] };
        answered.push(...body.samples.map((s) => s.trajectory_id));
      }
    } finally {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }

    // The next process on the same data directory.
    const logging = await createTrajectoryLoggingFromEnv(env(), { dataDir });
    try {
      await logging.logger.flush();
      const delivered: string[] = [];
      for (const message of await logging.queue.receive({ max: 100, visibilityTimeoutS: 60 })) {
        delivered.push(...(await readTrajectories(logging.store, decodeQueueMessage(message.body))).map((r) => r.id));
      }
      expect(answered).toHaveLength(12);
      expect(delivered.sort()).toEqual([...answered].sort());
    } finally {
      await logging.close();
    }
  }, 120_000);
});
