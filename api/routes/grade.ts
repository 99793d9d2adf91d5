import { Hono } from 'hono';
import { z } from 'zod';
import { GRADING_MODES, type GradeOptions, type GradeResult } from '../grading/index.ts';
import { inlineGrader, TIMEOUT_RESULT, type Grader } from '../grading/grader.ts';
import { badRequest } from '../errors.ts';
import { describeIssues, readJson } from '../validation.ts';

const OptionsSchema = z
  .object({
    mode: z.enum(GRADING_MODES, { error: `mode must be one of ${GRADING_MODES.map((m) => `"${m}"`).join(', ')}` }).optional(),
    rel_tol: z.number().min(0).max(1).optional(),
    last_number_fallback: z.boolean().optional(),
    timeout_ms: z.number().int().min(1).max(10_000).optional(),
    points: z.number().int().min(1).max(50).optional(),
    max_answer_length: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();

type WireOptions = z.infer<typeof OptionsSchema>;

const ItemSchema = z
  .object({
    gold: z.string({ error: 'gold must be a string' }),
    response: z.string().optional(),
    answer: z.string().optional(),
    truncated: z.boolean().optional(),
    options: OptionsSchema.optional(),
  })
  .strict()
  .refine((item) => (item.response === undefined) !== (item.answer === undefined), {
    message: 'give exactly one of response (a whole model response) or answer (an extracted answer)',
  });

type Item = z.infer<typeof ItemSchema>;

const batchSchema = (maxBatch: number) =>
  z
    .object({
      items: z.array(ItemSchema).max(maxBatch, { error: `at most ${maxBatch} items per request` }),
      options: OptionsSchema.optional(),
    })
    .strict();

function toGradeOptions(wire: WireOptions | undefined): GradeOptions {
  return {
    mode: wire?.mode,
    relTol: wire?.rel_tol,
    lastNumberFallback: wire?.last_number_fallback,
    timeoutMs: wire?.timeout_ms,
    points: wire?.points,
    maxAnswerLength: wire?.max_answer_length,
  };
}

function gradeItem(grader: Grader, item: Item, shared: WireOptions | undefined, timeoutCapMs?: number): Promise<GradeResult> {
  const options = toGradeOptions({ ...shared, ...item.options });
  if (timeoutCapMs !== undefined) options.timeoutMs = Math.min(options.timeoutMs ?? timeoutCapMs, timeoutCapMs);
  return grader.grade(item.gold, { response: item.response, answer: item.answer, truncated: item.truncated }, options);
}

export interface GradeRouteOptions {
  /** Most items in one `{ items: [...] }` request. */
  maxBatch?: number;
  /** Wall-clock budget for a whole batch; items left when it runs out are graded `timeout`. */
  batchBudgetMs?: number;
  /** Default: inline (see AppDeps.grader). */
  grader?: Grader;
}

/**
 * `POST /v1/grade`: `{ gold, response | answer, truncated?, options? }` → `{ equal, extracted,
 * gold_parsed, pred_parsed, reason }`; or `{ items: [...], options? }` → `{ results: [...] }`,
 * where `options` applies to every item and an item's own `options` override it.
 */
export function gradeRoutes({ maxBatch = 1000, batchBudgetMs = 10_000, grader = inlineGrader }: GradeRouteOptions = {}): Hono {
  const BatchSchema = batchSchema(maxBatch);
  return new Hono().post('/v1/grade', async (c) => {
    const body = await readJson(c, z.unknown());
    const isBatch = typeof body === 'object' && body !== null && 'items' in body;
    if (!isBatch) return c.json(await gradeItem(grader, validate(ItemSchema, body), undefined));
    const { items, options } = validate(BatchSchema, body);
    const deadline = performance.now() + batchBudgetMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const budgetSpent = new Promise<GradeResult>((resolve) => (timer = setTimeout(() => resolve(TIMEOUT_RESULT), batchBudgetMs)));
    try {
      // A pool grades the items in parallel; inline they run one after another, each capped by what is left.
      const results = await Promise.all(
        items.map((item) => {
          const left = deadline - performance.now();
          return left <= 0 ? TIMEOUT_RESULT : Promise.race([gradeItem(grader, item, options, left), budgetSpent]);
        }),
      );
      return c.json({ results });
    } finally {
      clearTimeout(timer);
    }
  });
}

function validate<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw badRequest(describeIssues(parsed.error));
  return parsed.data;
}
