/**
 * Checkpoint hot swap: time from `publishCheckpoint` starting to `/v1/info` of a running server
 * reporting the new version (download + sha256 verification + ONNX load + swap). Target: < 5 s locally.
 *
 * Baseline, measured in the same run: polling alone (CIR_CHECKPOINT_NOTIFY=off), which waits on average
 * half an interval before it even looks. The notified paths (fs watch of the pointer file, the default
 * with fs storage; or the publisher POSTing /v1/checkpoints/check, for S3/R2) should make the swap cost
 * independent of the interval: ratio p50 / poll interval well below 0.5.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodeServer } from '../api/node.ts';
import { FsObjectStore } from '../core/storage/fs.ts';
import { ensureModel, type PresetName } from '../scripts/make-model.ts';
import { notifyServers } from '../trainer/publish/notify.ts';
import { publishCheckpoint } from '../trainer/publish/publish.ts';
import { percentile, table } from './stats.ts';

const POLL_MS = 2000;

/** fs: the server watches the pointer file; http: the publisher POSTs /v1/checkpoints/check; off: polling only. */
type Notify = 'fs' | 'http' | 'off';
const NOTIFY_LABEL: Record<Notify, string> = { fs: 'fs watch + poll', http: 'POST /v1/checkpoints/check', off: 'poll only (baseline)' };
const SWAPS = 6;

interface Row {
  preset: PresetName;
  notify: Notify;
  p50: number;
  max: number;
  publishMs: number;
}

async function measure(preset: PresetName, notify: Notify): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'cir-bench-swap-'));
  const models = [await ensureModel(preset, 0), await ensureModel(preset, 1)];
  const store = new FsObjectStore(join(dir, 'objects'));
  const publish = (i: number) =>
    publishCheckpoint({ store, prefix: 'ckpt', modelDir: models[i % 2]!, version: `v${i}`, parent: i === 0 ? null : `v${i - 1}`, step: i, schedule: [{ step: 0, limit: 2 }] });
  await publish(0);
  const server = await startNodeServer({
    PORT: '0',
    CIR_DATA_DIR: dir,
    CIR_STORAGE: 'fs',
    CIR_STORAGE_DIR: join(dir, 'objects'),
    CIR_CHECKPOINTS: 'ckpt',
    CIR_CHECKPOINT_POLL_MS: String(POLL_MS),
    CIR_CHECKPOINT_NOTIFY: notify === 'fs' ? 'fs' : 'off',
    CIR_PYTHON_EXECUTOR: 'off',
  });
  const serving = async () => ((await (await fetch(`${server.url}/v1/info`)).json()) as { checkpoint: { version: string } }).checkpoint.version;
  const totals: number[] = [];
  const publishes: number[] = [];
  try {
    for (let i = 1; i <= SWAPS; i++) {
      // Start at a random phase of the poll cycle, as a publish from another machine would.
      await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
      const t0 = performance.now();
      await publish(i);
      publishes.push(performance.now() - t0);
      if (notify === 'http') await notifyServers([server.url]);
      while ((await serving()) !== `v${i}`) await new Promise((r) => setTimeout(r, 5));
      totals.push(performance.now() - t0);
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  totals.sort((a, b) => a - b);
  publishes.sort((a, b) => a - b);
  return { preset, notify, p50: percentile(totals, 50), max: totals.at(-1)!, publishMs: percentile(publishes, 50) };
}

export async function benchSwap(): Promise<void> {
  const rows: Row[] = [];
  for (const preset of ['tiny', 'small'] as const) {
    for (const notify of ['fs', 'http', 'off'] as const) rows.push(await measure(preset, notify));
  }
  console.log(`publish → serving the new checkpoint, ${SWAPS} swaps each, poll interval ${POLL_MS} ms (the baseline)`);
  console.log(
    table(
      ['model', 'notify', 'publish p50 ms', 'publish→serving p50 ms', 'max ms', 'p50 / poll interval', 'target < 5 s'],
      rows.map((r) => [r.preset, NOTIFY_LABEL[r.notify], r.publishMs, r.p50, r.max, r.p50 / POLL_MS, r.max < 5000 ? 'met' : 'MISSED']),
    ),
  );
}
