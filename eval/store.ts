import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../core/schemas/issues.ts';
import { SampleRecordSchema, sampleKey, type SampleRecord } from './record.ts';

/**
 * A run directory:
 *   run.json       the settings (written first; a re-run with other settings is refused)
 *   samples.jsonl  one SampleRecord per finished sample, appended as it finishes
 *   summary.json, report.md, plots/*.svg   rewritten at the end of every invocation
 * A re-run reads samples.jsonl and skips what is there, so a run interrupted at any point (Ctrl-C,
 * crash, dead backend) resumes where it stopped. A last line cut off by a crash is dropped.
 * A re-run may plan other problems (--limit, --bench): run.json then records the new plan, the
 * reports cover it and say how many kept samples lie outside it (splitByPlan).
 */

export const RUN_FILE = 'run.json';
export const SAMPLES_FILE = 'samples.jsonl';
export const SUMMARY_FILE = 'summary.json';
export const REPORT_FILE = 'report.md';

const RunConfigSchema = z.object({
  v: z.literal(1),
  created_at: z.string(),
  model: z.string(),
  /** What --backend named: a model directory or a server URL. */
  backend: z.string(),
  checkpoint: z.string(),
  greedy: z.boolean(),
  k: z.number().int().positive(),
  temperature: z.number().nonnegative(),
  top_p: z.number().gt(0).max(1),
  max_tool_calls: z.number().int().nonnegative(),
  max_tokens: z.number().int().positive(),
  seed: z.number().int(),
  /**
   * Benchmarks of the latest invocation, in report order, with the problems it planned: `ids` are
   * those problems (after --limit). Reports cover this plan; samples.jsonl keeps every sample.
   * Runs written before `ids` existed count every sample of the benchmark.
   */
  benchmarks: z.array(
    z.object({ name: z.string(), file: z.string(), problems: z.number().int().nonnegative(), total: z.number().int().nonnegative(), ids: z.array(z.string()).optional() }),
  ),
  limit: z.number().int().positive().nullable(),
  /** Set by an evaluation protocol (eval/protocol.ts): the prompt's name, the per-turn token limit, the grading mode. */
  prompt: z.string().optional(),
  max_tokens_per_turn: z.number().int().positive().optional(),
  grading_mode: z.string().optional(),
});

export type RunConfig = z.infer<typeof RunConfigSchema>;

/** Settings that change what a sample is; a run directory keeps them fixed. */
const RESULT_SETTINGS = ['model', 'greedy', 'k', 'temperature', 'top_p', 'max_tool_calls', 'max_tokens', 'seed', 'prompt', 'max_tokens_per_turn', 'grading_mode'] as const;

export class RunDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunDirError';
  }
}

function readRunConfig(dir: string): RunConfig | undefined {
  const file = join(dir, RUN_FILE);
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RunDirError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = RunConfigSchema.safeParse(value);
  if (!parsed.success) throw new RunDirError(`${file}: not an eval run configuration: ${formatIssues(parsed.error).join('; ')}`);
  return parsed.data;
}

/**
 * Reads samples.jsonl. A malformed line is an error naming file:line, except a last line without
 * its newline (a write cut off by a crash), which is reported as `tornBytes` for the caller to drop.
 */
export function readSamples(file: string): { records: SampleRecord[]; tornBytes: number } {
  if (!existsSync(file)) return { records: [], tornBytes: 0 };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const last = lines.pop()!; // '' when the file ends with a newline
  const records: SampleRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new RunDirError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const parsed = SampleRecordSchema.safeParse(value);
    if (!parsed.success) throw new RunDirError(`${file}:${i + 1}: not a sample record: ${formatIssues(parsed.error).slice(0, 3).join('; ')}`);
    records.push(parsed.data);
  });
  return { records, tornBytes: Buffer.byteLength(last, 'utf8') };
}

/** Reads a finished or interrupted run for reporting and comparison. */
export function readRun(dir: string): { config: RunConfig; records: SampleRecord[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RunDirError(`${dir}: no such run directory`);
  const config = readRunConfig(dir);
  if (!config) throw new RunDirError(`${dir}: not an eval run (no ${RUN_FILE})`);
  return { config, records: dedupe(readSamples(join(dir, SAMPLES_FILE)).records) };
}

/** Samples and problems a run directory holds beyond the plan its reports cover. */
export interface OutsidePlan {
  problems: number;
  samples: number;
}

/**
 * Splits a run's records into those of its latest plan (its benchmarks, their planned problems,
 * samples below k) and the rest: samples kept from invocations with another --limit or --bench,
 * which stay on disk (a later plan may cover them again) but are not counted in the report.
 */
export function splitByPlan(config: Pick<RunConfig, 'benchmarks' | 'k'>, records: readonly SampleRecord[]): { planned: SampleRecord[]; outside: OutsidePlan } {
  const plan = new Map(config.benchmarks.map((b) => [b.name, b.ids && new Set(b.ids)]));
  const planned: SampleRecord[] = [];
  const outsideProblems = new Set<string>();
  let outsideSamples = 0;
  for (const r of records) {
    const ids = plan.get(r.bench);
    if (plan.has(r.bench) && (ids === undefined || ids.has(r.id)) && r.sample < config.k) {
      planned.push(r);
    } else {
      outsideSamples++;
      outsideProblems.add(`${r.bench}\u0000${r.id}`);
    }
  }
  return { planned, outside: { problems: outsideProblems.size, samples: outsideSamples } };
}

/** Keeps the first record of each (bench, id, sample): a sample is never counted twice. */
function dedupe(records: SampleRecord[]): SampleRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const key = sampleKey(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export class RunStore {
  private readonly done = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly config: RunConfig,
    readonly records: SampleRecord[],
  ) {
    for (const r of records) this.done.add(sampleKey(r));
  }

  /**
   * Opens (or creates) a run directory for `config`. An existing run must have the same result
   * settings; its finished samples are loaded so they are skipped.
   */
  static open(dir: string, config: RunConfig): RunStore {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new RunDirError(`${dir} exists and is not a directory`);
    mkdirSync(dir, { recursive: true });
    const previous = readRunConfig(dir);
    if (previous) {
      const changed = RESULT_SETTINGS.filter((key) => (previous[key] ?? null) !== (config[key] ?? null));
      if (changed.length > 0) {
        const diff = changed.map((key) => `${key}: ${JSON.stringify(previous[key])} → ${JSON.stringify(config[key])}`).join(', ');
        throw new RunDirError(`${dir} holds a run with other settings (${diff}); resume it with its settings or pick another --out`);
      }
    }
    const samplesFile = join(dir, SAMPLES_FILE);
    const { records, tornBytes } = readSamples(samplesFile);
    if (tornBytes > 0) truncateSync(samplesFile, statSync(samplesFile).size - tornBytes);
    const merged: RunConfig = { ...config, created_at: previous?.created_at ?? config.created_at };
    writeAtomic(join(dir, RUN_FILE), `${JSON.stringify(merged, null, 2)}\n`);
    return new RunStore(dir, merged, dedupe(records));
  }

  has(bench: string, id: string, sample: number): boolean {
    return this.done.has(sampleKey({ bench, id, sample }));
  }

  /** Appends one finished sample; synchronous so that a record is on disk before the next begins. */
  append(record: SampleRecord): void {
    const key = sampleKey(record);
    if (this.done.has(key)) return;
    appendFileSync(join(this.dir, SAMPLES_FILE), `${JSON.stringify(record)}\n`);
    this.done.add(key);
    this.records.push(record);
  }

  /** Writes a derived file (summary, report, plot) atomically, so a reader never sees half of one. */
  writeFile(relative: string, content: string): void {
    writeAtomic(join(this.dir, relative), content);
  }
}

function writeAtomic(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}
