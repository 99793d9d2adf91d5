import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';

/**
 * Starts grading threads from one bundled script instead of through tsx. A worker thread starts
 * without the parent's module hooks, and loading its TypeScript through tsx's API costs a hook
 * round trip per module: the grader imports mathjs (about 800 modules), so each thread took 2.2 s
 * to start, and the two default threads 5 s, which the first graded request after start-up waited
 * for. esbuild bundles the thread's code once per process (about 0.5 s, synchronously, at the
 * first pool's construction); each thread then loads one script (two threads ready in ~1.1 s).
 */
const bundles = new Map<string, string>();

function bundledCode(entry: URL): string {
  const path = fileURLToPath(entry);
  let code = bundles.get(path);
  if (code === undefined) {
    const result = buildSync({ entryPoints: [path], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' });
    code = result.outputFiles[0]!.text;
    bundles.set(path, code);
  }
  return code;
}

/** A worker thread running the TypeScript module `entry` and everything it imports, bundled. */
export function startBundledThread(entry: URL): Worker {
  return new Worker(bundledCode(entry), { eval: true });
}
