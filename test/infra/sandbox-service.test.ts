import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxFusionExecutor } from '../../api/sandbox/sandboxfusion.ts';
import { readDockerfile, readManifests, ROOT } from './definitions.ts';

/**
 * The Python sandbox service as infra/sandbox ships it, run here without a container engine: only the files
 * its Dockerfile copies, its settings from deployment.yaml, as an unprivileged uid with every capability
 * dropped and no_new_privs (the pod's runAsUser, capabilities drop ALL, allowPrivilegeEscalation false).
 * The Worker's SandboxFusion client reaches it with a key; Python runs in bubblewrap. Then the one setting
 * that cannot be left out: a /proc masked as container runtimes mask it by default (procMount: Default)
 * keeps bubblewrap from starting, and the service refuses to start, saying so.
 */

const UID = 65534;
const KEYS = ['worker-key', 'other-key'];
/** Runs a command as the pod would: not root, no capabilities, no way to gain any. */
const UNPRIVILEGED = ['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', '--no-new-privs'];
/** Docker's and containerd's default masked and read-only /proc paths (a subset is enough to show the effect). */
const MASK_PROC = [
  'for p in /proc/kcore /proc/keys /proc/timer_list; do [ -e $p ] && mount --bind /dev/null $p; done',
  'for p in /proc/acpi /proc/scsi; do [ -d $p ] && mount -t tmpfs -o ro tmpfs $p; done',
  'for p in /proc/bus /proc/fs /proc/irq /proc/sys; do [ -e $p ] && mount --bind $p $p && mount -o remount,bind,ro $p; done',
].join('; ');

let stage = '';
let server: ChildProcess | undefined;
let base = '';

/** One place per checkout: tsx's compile cache (keyed by path) then survives between runs (a cold start compiles for seconds). */
const STAGE_ROOT = join(tmpdir(), `cir-sandbox-image-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`);

function othersCanTraverse(path: string): boolean {
  for (let at = resolve(path); ; at = dirname(at)) {
    if ((statSync(at).mode & 0o001) === 0) return false;
    if (dirname(at) === at) return true;
  }
}

/**
 * A copy of what the image holds (the Dockerfile's COPY sources; node_modules as `npm ci` left it), made
 * afresh under STAGE_ROOT/image; STAGE_ROOT/tmp (the container's /tmp: tsx's cache) is kept.
 */
function stageImage(): string {
  const dir = join(STAGE_ROOT, 'image');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const path of [STAGE_ROOT, dir]) chmodSync(path, 0o755);
  for (const source of readDockerfile('infra/sandbox/Dockerfile').copies) cpSync(join(ROOT, source), join(dir, source), { recursive: true });
  // The service's user must reach node_modules: a link does when every folder above the checkout lets
  // others through; a checkout under a private folder (mkdtemp's 0700) gets hard links instead.
  if (othersCanTraverse(ROOT)) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  else execFileSync('cp', ['-al', join(ROOT, 'node_modules'), join(dir, 'node_modules')]);
  for (const path of [join(dir, 'data'), join(STAGE_ROOT, 'tmp')]) {
    mkdirSync(path, { recursive: true });
    chownSync(path, UID, UID);
  }
  return dir;
}

/** The container's environment: deployment.yaml's plain values, the key Secret, and the staged data and tmp. */
function serviceEnv(): Record<string, string> {
  const [deployment] = readManifests('infra/sandbox/deployment.yaml');
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(stage, 'data'), TMPDIR: join(STAGE_ROOT, 'tmp') };
  for (const entry of deployment.spec.template.spec.containers[0].env) if (entry.value !== undefined) env[entry.name] = entry.value;
  return { ...env, CIR_API_KEYS: KEYS.join(','), HOST: '127.0.0.1', PORT: '0', CIR_DATA_DIR: join(stage, 'data') };
}

function startService(wrapper: string[]): ChildProcess {
  const [command, ...args] = [...wrapper, ...UNPRIVILEGED, process.execPath, join(stage, 'bin/cir.mjs'), 'serve'];
  return spawn(command, args, { cwd: stage, env: serviceEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the URL the server prints once listening; rejects with its output if it exits first. */
function listeningUrl(child: ChildProcess): Promise<string> {
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /cir listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the sandbox service exited (${code}) before listening:\n${output}`)));
  });
}

beforeAll(async () => {
  expect(process.getuid?.(), 'this test drops root to show the unprivileged profile: run it as root').toBe(0);
  stage = stageImage();
  server = startService([]);
  base = await listeningUrl(server);
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
  if (stage) rmSync(stage, { recursive: true, force: true });
});

const runCode = (body: unknown, key?: string) =>
  fetch(`${base}/run_code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }) },
    body: JSON.stringify(body),
  });

describe('the sandbox service, unprivileged and executor-only', () => {
  it('runs Python in bubblewrap for the Worker’s SandboxFusion client, with its key', async () => {
    const worker = createSandboxFusionExecutor({ url: base, apiKey: KEYS[0], languages: ['python'] });
    const result = await worker.execute({ language: 'python', code: 'import sympy\nprint(sympy.factorint(2**32 + 1))', stdin: '', timeoutMs: 10_000, memoryMb: 256, maxOutputBytes: 65_536 });
    expect(result).toMatchObject({ status: 'ok', stdout: '{641: 1, 6700417: 1}\n' });
    const info = await (await fetch(`${base}/v1/info`, { headers: { authorization: `Bearer ${KEYS[1]}` } })).json();
    expect(info.executors.python.executor).toBe('python-bwrap');
  });

  it('refuses callers without one of its keys', async () => {
    for (const key of [undefined, 'not-a-key']) {
      const response = await runCode({ code: 'print(1)', language: 'python' }, key);
      expect(response.status).toBe(401);
      expect((await response.json()).error.type).toBe('unauthorized');
    }
  });

  it('serves no model (the model routes say so) while /run_code works', async () => {
    const response = await fetch(`${base}/v1/solve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS[0]}` },
      body: JSON.stringify({ problem: 'What is 2+2?' }),
    });
    expect(response.status).toBe(503);
    const ok = await (await runCode({ code: 'print(6*7)', language: 'python' }, KEYS[0])).json();
    expect(ok).toMatchObject({ status: 'Success', run_result: { stdout: '42\n' } });
  });
});

describe('the sandbox service under a masked /proc (a container without procMount: Unmasked)', () => {
  it('does not start, and says that bubblewrap cannot mount /proc', async () => {
    const child = startService(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${MASK_PROC}; exec "$@"`, 'mask-proc']);
    await expect(listeningUrl(child)).rejects.toThrow(/CIR_PYTHON_EXECUTOR=bwrap but the Python sandbox is unavailable: .*Can't mount proc on \/newroot\/proc: Operation not permitted/);
    expect(child.exitCode).not.toBe(0);
  });
});
