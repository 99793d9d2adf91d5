import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../api/models/onnx/backend.ts';
import { readLatestPointer } from '../../core/checkpoints/layout.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { TrajectoryConsumer } from '../../trainer/consumer/consumer.ts';
import { readMetrics } from '../../trainer/run/metrics.ts';
import { readRunState } from '../../trainer/run/state.ts';
import { sendBatch, tempDir } from './fixtures.ts';
import { rolloutRecords } from './rollouts.ts';

/**
 * The real thing: a `cir train` process SIGKILLed at an arbitrary moment (no cleanup, lock left behind),
 * then run again until the queue is drained. Whatever phase the kill hit, every record is trained on
 * exactly once and the published checkpoints form one chain.
 */
let root: string;
let cleanup: () => Promise<void>;
let modelDir: string;

beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir('kill'));
  modelDir = await ensureModel('tiny');
});
afterAll(() => cleanup?.());

function train(env: Record<string, string>, killAfterPublishMs: number | null, waitS: string): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['bin/cir.mjs', 'train', '--run-dir', join(root, 'run'), '--init', modelDir, '--batch-records', '6', '--wait-s', waitS, '--lease-s', '1', '--threads', '1'],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (killAfterPublishMs !== null && stderr.includes('published ')) {
        setTimeout(() => child.kill('SIGKILL'), killAfterPublishMs);
        killAfterPublishMs = null;
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('cir train killed mid-run', () => {
  it('loses nothing and counts nothing twice across a SIGKILL', async () => {
    const store = new FsObjectStore(join(root, 'objects'));
    const queue = new LocalQueue(join(root, 'queue'));
    const backend = await OnnxBackend.load(modelDir, { threads: 1 });
    const records = await rolloutRecords(backend, { groups: 8, n: 4 }).finally(() => backend.dispose());
    for (let i = 0; i < records.length; i += 6) await sendBatch(store, queue, records.slice(i, i + 6));

    // Short leases, so messages a killed trainer held come back quickly.
    const env = { CIR_DATA_DIR: root, CIR_STORAGE_DIR: join(root, 'objects'), CIR_QUEUE_DIR: join(root, 'queue'), CIR_CHECKPOINTS: 'ckpt' };
    // One kill (each `cir train` start costs seconds of CPU on a shared machine): a moment after the first
    // publish, which lands in the next step's consume / train / export / commit / publish.
    const delay = 30 + Math.floor(Math.random() * 150);
    const killed = await train(env, delay, '0.05');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    // Waits out the 1 s lease of any message a killed trainer had received but not yet accounted for.
    const last = await train(env, null, '1.5');
    expect(last.code, last.stderr).toBe(0);
    const context = `killed ${delay} ms after the first publish; first run:\n${killed.stderr}\nsecond run:\n${last.stderr}`;

    const state = (await readRunState(join(root, 'run')))!;
    expect(state.pending_publish).toBeNull();
    const metrics = await readMetrics(join(root, 'run', 'metrics.jsonl'));
    expect(metrics.map((m) => m.step), context).toEqual(Array.from({ length: state.step }, (_, i) => i + 1));
    expect(metrics.reduce((n, m) => n + Number(m.records), 0), context).toBe(records.length);
    expect((await readLatestPointer(store, 'ckpt'))!.version).toBe(`run-step-${String(state.step).padStart(6, '0')}`);
    for (let s = 2; s <= state.step; s++) {
      const manifest = JSON.parse(new TextDecoder().decode((await store.get(`ckpt/run-step-${String(s).padStart(6, '0')}/manifest.json`))!));
      expect(manifest.parent).toBe(`run-step-${String(s - 1).padStart(6, '0')}`);
    }
    const ledger = await TrajectoryConsumer.open({ dir: join(root, 'run', 'consumer'), store, queue });
    expect(ledger.totals()).toMatchObject({ accepted: records.length, duplicates: 0 });
    expect(ledger.pending()).toEqual([]);
    expect(await queue.receive({ max: 10, visibilityTimeoutS: 0 })).toEqual([]);
  }, 120_000); // two `cir train` processes: their start-up alone takes seconds on a loaded machine
});
