import { spawn } from 'node:child_process';
import { readFile, readlink, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { publishCheckpoint } from '../../trainer/publish/publish.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { runCommand } from '../cli-run.ts';
import { tempDir } from './fixtures.ts';

/** `cir pull`: how a vLLM deployment follows the checkpoints training publishes. */

let modelDir: string;
let root: string;
let cleanup: () => Promise<void>;
let store: FsObjectStore;
let env: Record<string, string>;

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
});
beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir('pull'));
  store = new FsObjectStore(join(root, 'objects'));
  env = { CIR_DATA_DIR: root, CIR_STORAGE_DIR: join(root, 'objects') };
});
afterEach(() => cleanup());

const publish = (version: string, step: number) =>
  publishCheckpoint({ store, prefix: 'checkpoints', modelDir, version, parent: null, step, schedule: parseBudgetSchedule('0:2,10:3') });

describe('cir pull', () => {
  it('downloads the latest checkpoint verified, points current at it, and keeps only the previous one besides', async () => {
    const out = join(root, 'models');
    for (const [version, step] of [['v1', 1], ['v2', 10], ['v3', 20]] as const) {
      await publish(version, step);
      const pulled = await runCommand(main, ['pull', '--out', out], env);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(JSON.parse(pulled.stdout)).toMatchObject({ version, step, downloaded: true, dir: join(out, version) });
    }
    expect(await readlink(join(out, 'current'))).toBe('v3');
    expect((await readdir(out)).sort()).toEqual(['current', 'v2', 'v3']);
    expect(await readFile(join(out, 'current', 'model.onnx'))).toEqual(await readFile(join(modelDir, 'model.onnx')));
    expect(JSON.parse(await readFile(join(out, 'current', 'manifest.json'), 'utf8'))).toMatchObject({ version: 'v3', tool_budget: { limit: 3 } });

    const again = await runCommand(main, ['pull', '--out', out, '--version', 'v2'], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 'v2', downloaded: false });
    expect(await readlink(join(out, 'current'))).toBe('v2');
  });

  it('refuses a damaged file and leaves current as it was; names what is missing', async () => {
    const out = join(root, 'models');
    await publish('v1', 1);
    expect((await runCommand(main, ['pull', '--out', out], env)).code).toBe(0);
    await publish('v2', 2);
    await writeFile(join(root, 'objects', 'checkpoints', 'v2', 'model.onnx'), 'tampered');
    const bad = await runCommand(main, ['pull', '--out', out], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/checkpoint v2: model.onnx has sha256 \w+, its manifest says \w+/);
    expect(await readlink(join(out, 'current'))).toBe('v1');
    expect((await readdir(out)).sort()).toEqual(['current', 'v1']);

    const missing = await runCommand(main, ['pull', '--out', out, '--version', 'v9'], env);
    expect(missing.stderr).toMatch(/no checkpoint v9 under checkpoints\//);
    const empty = await runCommand(main, ['pull', '--out', out, '--prefix', 'elsewhere'], env);
    expect(empty.stderr).toMatch(/nothing is published under elsewhere\//);
    const usage = await runCommand(main, ['pull', '--out', out, '--then', 'true'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--then runs after each pull in --watch mode/);
  });

  it('--watch follows the latest checkpoint and runs --then after each, until SIGTERM', async () => {
    const out = join(root, 'models');
    const hookLog = join(root, 'hook.log');
    await publish('v1', 1);
    const child = spawn(process.execPath, ['bin/cir.mjs', 'pull', '--out', out, '--watch', '--poll-s', '0.1', '--then', `echo "$CIR_CHECKPOINT_VERSION $CIR_CHECKPOINT_DIR" >> ${hookLog}`], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    expect(JSON.parse((await lines.next()).value as string)).toMatchObject({ version: 'v1' });
    await publish('v2', 2);
    expect(JSON.parse((await lines.next()).value as string)).toMatchObject({ version: 'v2' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await readFile(hookLog, 'utf8')).trim().split('\n')).toEqual([`v1 ${join(out, 'v1')}`, `v2 ${join(out, 'v2')}`]);
  }, 60_000);
});
