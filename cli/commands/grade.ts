import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { GRADING_MODES, type GradeOptions, type GradingMode } from '../../api/grading/index.ts';
import type { Grader } from '../../api/grading/grader.ts';
import { GradingPool } from '../../api/grading/pool/index.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const gradeUsage = `usage: cir grade --jsonl FILE|-  [options]
       cir grade --gold GOLD --pred PRED  [options]
Grades predictions against gold answers.
  --jsonl FILE|-   reads lines { "id"?, "gold", "pred" } (pred may be a whole model response) and
                   writes one line { "id", "equal", "extracted", "reason" } per input line to stdout;
                   id defaults to the 1-based line number. A malformed line is reported on stderr and
                   written with reason "invalid_input".
  --gold, --pred   grades one pair and prints the full result JSON.
options:
  --mode M             math-verify (default): code blocks ignored, the last box or final-answer
                       phrase, else the answer in prose; cir-paper: the paper's seed evaluation,
                       the last \\boxed{} anywhere (code included), and a response also counts as
                       right when the last number of its last line equals the gold
  --rel-tol N          relative tolerance for numeric comparison (default 1e-6)
  --timeout-ms N       time limit per pair (default 100)
  --no-last-number     do not fall back to a response's last number
Exit code: 0 when every line was graded (--gold/--pred: when equal), 1 otherwise, 2 on usage errors.`;

function modeFlag(value: string | undefined): GradingMode | undefined {
  if (value === undefined) return undefined;
  if (!(GRADING_MODES as readonly string[]).includes(value)) throw new UsageError(`--mode must be one of ${GRADING_MODES.join(', ')}, got "${value}"`);
  return value as GradingMode;
}

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

/** The id of a line: its own `id` when it has one, else its 1-based line number. */
function lineId(value: unknown, lineNumber: number): unknown {
  if (typeof value === 'object' && value !== null && 'id' in value) return (value as { id: unknown }).id;
  return lineNumber;
}

function invalidReason(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object { id?, gold, pred }';
  const { gold, pred } = value as Record<string, unknown>;
  if (typeof gold !== 'string') return 'gold must be a string';
  if (typeof pred !== 'string') return 'pred must be a string';
  return undefined;
}

/** `cir grade`: the grader over JSON lines (streamed) or one pair. */
export async function gradeCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      jsonl: { type: 'string' },
      gold: { type: 'string' },
      pred: { type: 'string' },
      mode: { type: 'string' },
      'rel-tol': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'no-last-number': { type: 'boolean' },
    },
  });
  const options: GradeOptions = {
    mode: modeFlag(values.mode),
    relTol: numberFlag('rel-tol', values['rel-tol']),
    timeoutMs: numberFlag('timeout-ms', values['timeout-ms']),
    lastNumberFallback: values['no-last-number'] ? false : undefined,
  };

  if (values.jsonl !== undefined && (values.gold !== undefined || values.pred !== undefined)) throw new UsageError('give either --jsonl or --gold/--pred, not both');
  if (values.jsonl === undefined && (values.gold === undefined || values.pred === undefined)) throw new UsageError('give --jsonl FILE, or both --gold and --pred');
  // Worker threads with a hard deadline: no input can hang the command.
  const pool = new GradingPool();
  try {
    if (values.jsonl !== undefined) return await gradeLines(values.jsonl === '-' ? io.stdin : createReadStream(values.jsonl, 'utf8'), options, io, pool);
    const result = await pool.grade(values.gold!, { response: values.pred! }, options);
    io.stdout.write(`${JSON.stringify(result)}\n`);
    return result.equal ? 0 : 1;
  } finally {
    await pool.dispose();
  }
}

/** Lines graded in parallel by the pool, written in input order: at most this many in flight. */
const WINDOW = 64;

async function gradeLines(input: NodeJS.ReadableStream, options: GradeOptions, io: CommandIO, grader: Grader): Promise<number> {
  const pending: Promise<string>[] = [];
  const writeOne = async () => {
    const line = await pending.shift()!;
    if (!io.stdout.write(`${line}\n`)) await once(io.stdout, 'drain');
  };
  const write = async (line: string | Promise<string>) => {
    pending.push(Promise.resolve(line));
    if (pending.length >= WINDOW) await writeOne();
  };
  let lineNumber = 0;
  let invalid = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNumber++;
    if (line.trim() === '') continue;
    let value: unknown;
    let problem: string | undefined;
    try {
      value = JSON.parse(line);
      problem = invalidReason(value);
    } catch (e) {
      problem = `not valid JSON: ${(e as Error).message}`;
    }
    const id = lineId(value, lineNumber);
    if (problem !== undefined) {
      invalid++;
      io.stderr.write(`cir grade: line ${lineNumber}: ${problem}\n`);
      await write(JSON.stringify({ id, equal: false, extracted: null, reason: 'invalid_input' }));
      continue;
    }
    const { gold, pred } = value as { gold: string; pred: string };
    await write(grader.grade(gold, { response: pred }, options).then((result) => JSON.stringify({ id, equal: result.equal, extracted: result.extracted, reason: result.reason })));
  }
  while (pending.length > 0) await writeOne();
  return invalid === 0 ? 0 : 1;
}
