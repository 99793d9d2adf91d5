import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatIssues } from '../core/schemas/issues.ts';
import { generateProblems, SPLITS, type Split } from '../model/tasks/generate.ts';

/**
 * Benchmark sets: JSON lines `{ id, problem, answer, subject?, level?, ... }` (the shape of
 * shared/data/benchmarks/, see its README). A set is named by its file stem (`math500` →
 * `math500.jsonl` in the data directory) or given as a path to a JSONL file. `synthetic-<split>`
 * (e.g. `synthetic-heldout`) is the embedded model's generated task family (model/tasks), with the
 * task kind as subject: SYNTHETIC_COUNT problems of seed 0, the same ones on every machine.
 */

export const BenchmarkProblemSchema = z
  .object({
    id: z.union([z.string().min(1), z.number().int()]).transform(String),
    problem: z.string().min(1, 'problem is empty'),
    answer: z.string(),
    subject: z.string().nullish(),
    level: z.union([z.number().int(), z.string().min(1)]).nullish(),
  })
  .loose();

export interface BenchmarkProblem {
  id: string;
  problem: string;
  answer: string;
  subject?: string;
  level?: string;
}

export interface Benchmark {
  /** Short name used in reports (file stem). */
  name: string;
  file: string;
  /** The problems to run (all of the file's, or the first --limit). */
  problems: BenchmarkProblem[];
  /** Problems in the file. */
  total: number;
}

/** A benchmark file that is missing or has lines that are not benchmark problems. */
export class BenchmarkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchmarkError';
  }
}

/** shared/data/benchmarks beside the repository; CIR_BENCHMARKS_DIR or --data overrides it. */
export const DEFAULT_BENCHMARKS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/data/benchmarks');

export function benchmarksDir(env: Record<string, string | undefined> = process.env): string {
  return env.CIR_BENCHMARKS_DIR || DEFAULT_BENCHMARKS_DIR;
}

/** Names of the sets a data directory holds (its *.jsonl stems). */
export function availableBenchmarks(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length)).sort();
}

/** Parses benchmark JSON lines; every bad line is reported as `file:line: why`. Blank lines are skipped. */
export function parseBenchmark(text: string, file: string): BenchmarkProblem[] {
  const problems: BenchmarkProblem[] = [];
  const errors: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      errors.push(`${where}: not valid JSON (${(e as Error).message})`);
      return;
    }
    const parsed = BenchmarkProblemSchema.safeParse(value);
    if (!parsed.success) {
      errors.push(`${where}: ${formatIssues(parsed.error).join('; ')}`);
      return;
    }
    const { id, problem, answer, subject, level } = parsed.data;
    const previous = seen.get(id);
    if (previous !== undefined) {
      errors.push(`${where}: duplicate id ${JSON.stringify(id)} (first on line ${previous})`);
      return;
    }
    seen.set(id, i + 1);
    problems.push({ id, problem, answer, ...(subject ? { subject } : {}), ...(level !== undefined && level !== null ? { level: String(level) } : {}) });
  });
  if (errors.length > 0) {
    const shown = errors.slice(0, 5).join('\n  ');
    throw new BenchmarkError(`${file}: ${errors.length} malformed line${errors.length === 1 ? '' : 's'}:\n  ${shown}${errors.length > 5 ? `\n  … and ${errors.length - 5} more` : ''}`);
  }
  if (problems.length === 0) throw new BenchmarkError(`${file}: no problems in the file`);
  return problems;
}

/** The file a benchmark reference points at: an existing .jsonl path, or `<dir>/<name>.jsonl`. */
export function benchmarkFile(ref: string, dir: string): string {
  if (ref.endsWith('.jsonl') || ref.includes('/')) return resolve(ref);
  return join(dir, `${ref}.jsonl`);
}

/** Problems in a `synthetic-<split>` set (before --limit). */
export const SYNTHETIC_COUNT = 200;

function syntheticBenchmark(ref: string): Benchmark | undefined {
  const match = /^synthetic-(\w+)$/.exec(ref);
  if (!match) return undefined;
  const split = match[1] as Split;
  if (!SPLITS.includes(split)) throw new BenchmarkError(`benchmark "${ref}": no synthetic split "${split}" (there are: ${SPLITS.map((s) => `synthetic-${s}`).join(', ')})`);
  const problems = generateProblems({ split, count: SYNTHETIC_COUNT, seed: 0 }).map((p) => ({ id: p.id, problem: p.text, answer: p.answer, subject: p.kind, level: String(p.level) }));
  return { name: ref, file: `model/tasks (split ${split}, seed 0)`, problems, total: problems.length };
}

/**
 * Loads benchmarks by name (from `dir`), `synthetic-<split>`, or path. A missing set is an error
 * listing what the directory has.
 */
export function loadBenchmark(ref: string, dir: string): Benchmark {
  const synthetic = syntheticBenchmark(ref);
  if (synthetic) return synthetic;
  const file = benchmarkFile(ref, dir);
  if (!existsSync(file) || !statSync(file).isFile()) {
    const known = availableBenchmarks(dir);
    throw new BenchmarkError(
      `benchmark "${ref}": no file ${file}` +
        (known.length ? ` (${dir} has: ${known.join(', ')})` : ` (${dir} has no .jsonl files; set --data or CIR_BENCHMARKS_DIR)`),
    );
  }
  const problems = parseBenchmark(readFileSync(file, 'utf8'), file);
  return { name: basename(file, '.jsonl'), file, problems, total: problems.length };
}

/** Splits a comma-separated --bench value; names must be unique. */
export function parseBenchList(value: string): string[] {
  const refs = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (refs.length === 0) throw new BenchmarkError('no benchmark given');
  const names = refs.map((r) => basename(r, '.jsonl'));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new BenchmarkError(`benchmark "${dup}" is listed twice`);
  return refs;
}
