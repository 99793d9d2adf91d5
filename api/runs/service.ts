import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../core/env.ts';
import { isNotFound, RunFileError } from '../../trainer/run/files.ts';
import { readMetrics } from '../../trainer/run/metrics.ts';
import { readRunState, runPaths } from '../../trainer/run/state.ts';
import { RUN_NAME, type RunService, type RunSummary } from './routes.ts';

/**
 * Training runs as the console shows them: the run directories under CIR_RUNS_DIR (what
 * `cir train --run-dir` writes: state.json, settings.json, metrics.jsonl). Read-only, and by name
 * only: a client names a run, the server finds it under its own directory, so no request reaches
 * another path.
 */

/** Checks CIR_RUNS_DIR at start-up: it may not exist yet (runs appear as training starts), but if it does it is a directory. */
export async function createRunService(runsDir: string): Promise<RunService> {
  const dir = resolve(runsDir);
  const found = await stat(dir).catch((error) => {
    if (isNotFound(error)) return null;
    throw new ConfigError([`CIR_RUNS_DIR: cannot read ${dir}: ${(error as Error).message}`]);
  });
  if (found && !found.isDirectory()) throw new ConfigError([`CIR_RUNS_DIR: ${dir} is not a directory`]);
  return {
    dir,
    async list() {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isNotFound(error)) return [];
        throw error;
      }
      const runs: RunSummary[] = [];
      for (const entry of entries) {
        if (!entry.isDirectory() || !RUN_NAME.test(entry.name)) continue;
        const summary = await summarize(join(dir, entry.name), entry.name);
        if (summary) runs.push(summary);
      }
      return runs.sort((a, b) => b.updated_at.localeCompare(a.updated_at));
    },
    async get(name, afterStep) {
      if (!RUN_NAME.test(name)) return null;
      const runDir = join(dir, name);
      const summary = await summarize(runDir, name);
      if (!summary) return null;
      const state = await readRunState(runDir);
      const metrics = (await readMetrics(runPaths(runDir).metrics)).filter((m) => typeof m.step === 'number' && m.step > afterStep);
      return {
        ...summary,
        settings: await readSettings(join(runDir, 'settings.json')),
        tool_budget_schedule: state?.schedule ?? null,
        pending_publish: state?.pending_publish ? { version: state.pending_publish.version, step: state.pending_publish.step } : null,
        metrics,
      };
    },
  };
}

/** A directory is a run once the trainer has written its state or a metrics line; null otherwise. */
async function summarize(runDir: string, name: string): Promise<RunSummary | null> {
  const paths = runPaths(runDir);
  const times = await Promise.all([paths.state, paths.metrics].map((p) => stat(p).then((s) => s.mtimeMs, () => null)));
  const known = times.filter((t): t is number => t !== null);
  if (known.length === 0) return null;
  const state = await readRunState(runDir).catch((error) => {
    if (error instanceof RunFileError) return null; // being rewritten or from another build: the metrics still show
    throw error;
  });
  return { name, step: state?.step ?? 0, version: state?.model.version ?? null, updated_at: new Date(Math.max(...known)).toISOString() };
}

async function readSettings(path: string): Promise<Record<string, unknown> | null> {
  try {
    const json: unknown = JSON.parse(await readFile(path, 'utf8'));
    return json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
