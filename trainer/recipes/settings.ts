/**
 * The training settings of a run: one table of every knob `cir train` exposes (its flag, its recipe-file
 * key, its default, its verl name), from which the flag parser, the recipe-file schema and the usage
 * text are all made, so the three cannot drift apart.
 *
 * Precedence, lowest first: the defaults below < the run directory's settings.json (what the run was
 * started with) < the recipe (--recipe NAME|FILE) < flags. The result is written back to settings.json.
 */
import { z } from 'zod';
import { LOSS_AGGREGATIONS } from '../algorithms/types.ts';
import { INCOMPLETE_GROUP_POLICIES } from '../batch/groups.ts';
import { parseBudgetSchedule } from '../run/budget.ts';

export const ESTIMATORS = ['grpo', 'drgrpo', 'rpp'] as const;
export const VOID_TURN_POLICIES = ['keep', 'mask_turn', 'mask_sample'] as const;
export const NO_SIGNAL_POLICIES = ['keep', 'drop'] as const;

const positive = z.number().positive().finite();
const nonNegative = z.number().nonnegative().finite();
const positiveInt = z.number().int().positive();

/** One setting: how it is parsed from a flag, checked in a recipe file, and described. */
interface Setting<T> {
  schema: z.ZodType<T>;
  /** A flag's text → value (recipe files hold JSON values and go through `schema` only). */
  parseFlag: (raw: string) => unknown;
  help: string;
}

const number = (raw: string) => (raw.trim() === '' ? Number.NaN : Number(raw));
const text = (raw: string) => raw;
const setting = <T>(schema: z.ZodType<T>, parseFlag: (raw: string) => unknown, help: string): Setting<T> => ({ schema, parseFlag, help });

export const SETTINGS = {
  estimator: setting(z.enum(ESTIMATORS), text, 'advantages: grpo (group mean/std), drgrpo (group mean only: Dr. GRPO), rpp (REINFORCE++ with group baseline, whitened over the batch)'),
  lr: setting(positive, number, 'AdamW learning rate (verl actor.optim.lr)'),
  batch_groups: setting(positiveInt.nullable(), (raw) => (raw === 'none' ? null : number(raw)), 'problems (groups) per step (verl data.train_batch_size); none: count records instead'),
  batch_records: setting(positiveInt, number, 'records per step when batch_groups is none (whole groups; the first always fits)'),
  mini_batch_groups: setting(positiveInt.nullable(), (raw) => (raw === 'none' ? null : number(raw)), 'problems per optimizer update (verl ppo_mini_batch_size); none: one update per batch'),
  samples: setting(positiveInt, number, 'samples per problem the rollouts draw (verl rollout.n): send /v1/solve with this n'),
  epochs: setting(positiveInt, number, 'passes over each batch (verl ppo_epochs)'),
  clip_low: setting(nonNegative, number, 'ratio clip below: 1 - clip_low (verl clip_ratio_low)'),
  clip_high: setting(nonNegative, number, 'ratio clip above: 1 + clip_high (verl clip_ratio_high)'),
  dual_clip: setting(z.number().gt(1).finite().nullable(), (raw) => (raw === 'none' ? null : number(raw)), 'dual-clip bound for negative advantages (verl clip_ratio_c); none: off'),
  kl_coef: setting(nonNegative, number, 'k3 KL to the reference policy (the run\'s initial weights) in the loss (verl kl_loss_coef); 0: no reference model'),
  entropy_coef: setting(nonNegative, number, 'entropy bonus (verl entropy_coeff)'),
  loss_agg: setting(z.enum(LOSS_AGGREGATIONS as [string, ...string[]]), text, `loss aggregation (verl loss_agg_mode): ${LOSS_AGGREGATIONS.join(', ')}`),
  loss_norm_tokens: setting(positiveInt.nullable(), (raw) => (raw === 'none' ? null : number(raw)), "seq-mean-token-sum-norm's constant (the generation budget); none: the batch's longest response"),
  grad_clip: setting(positive.nullable(), (raw) => (raw === 'none' ? null : number(raw)), 'global gradient norm clip (verl grad_clip); none: off'),
  weight_decay: setting(nonNegative, number, 'AdamW decoupled weight decay'),
  budget: setting(
    z.string().refine((s) => tryParse(() => parseBudgetSchedule(s)), 'must be a tool-call budget schedule like 0:2,40:3,80:4'),
    text,
    'tool-call budget schedule written into each checkpoint, step:limit,... (the paper grows it 2 → 3 → 4)',
  ),
  tool_timeout_ms: setting(
    positiveInt.nullable(),
    (raw) => (raw === 'none' ? null : number(raw)),
    "per-call tool timeout written into each checkpoint, which the API applies to the rollouts it serves (a request's tool_timeout_ms still wins); none: the API's CIR_TOOL_TIMEOUT_MS",
  ),
  no_signal_groups: setting(z.enum(NO_SIGNAL_POLICIES), text, 'groups whose samples all scored the same: keep (verl) or drop (DAPO dynamic sampling)'),
  void_turns: setting(z.enum(VOID_TURN_POLICIES), text, 'model turns with neither code nor the answer: keep, mask_turn or mask_sample'),
  group_timeout_s: setting(positive, number, 'how long a group waits for its missing samples before the incomplete_groups policy applies'),
  incomplete_groups: setting(z.enum(INCOMPLETE_GROUP_POLICIES), text, 'a group still incomplete after the timeout: train (as it is) or set-aside'),
  min_records: setting(positiveInt, number, 'fewer pending records than this: no step'),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type TrainSettings = { [K in SettingName]: z.infer<(typeof SETTINGS)[K]['schema']> };

export const DEFAULT_TRAIN_SETTINGS: TrainSettings = {
  estimator: 'grpo',
  lr: 1e-5,
  batch_groups: null,
  batch_records: 64,
  mini_batch_groups: null,
  samples: 1,
  epochs: 1,
  clip_low: 0.2,
  clip_high: 0.28,
  dual_clip: 3,
  kl_coef: 0,
  entropy_coef: 0,
  loss_agg: 'token-mean',
  loss_norm_tokens: null,
  grad_clip: 1,
  weight_decay: 0.01,
  budget: '0:2',
  tool_timeout_ms: null,
  no_signal_groups: 'keep',
  void_turns: 'keep',
  group_timeout_s: 600,
  incomplete_groups: 'train',
  min_records: 1,
};

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** `batch_groups` → `--batch-groups`. */
export const flagOf = (name: SettingName): string => name.replaceAll('_', '-');

function tryParse(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/** A recipe file or settings.json: any subset of the settings (unknown keys refused), plus a name and a description. */
export const RecipeSchema = z.strictObject({
  recipe: z.string().optional(),
  description: z.string().optional(),
  ...(Object.fromEntries(SETTING_NAMES.map((name) => [name, SETTINGS[name].schema.optional()])) as { [K in SettingName]: z.ZodOptional<(typeof SETTINGS)[K]['schema']> }),
});
export type Recipe = z.infer<typeof RecipeSchema>;

/** Checks recipe-file JSON; `where` names the file in errors. */
export function parseRecipe(json: unknown, where: string): Recipe {
  const parsed = RecipeSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, 10).map((issue) => {
    if (issue.code === 'unrecognized_keys') return `unknown setting(s) ${issue.keys.join(', ')} (known: ${SETTING_NAMES.join(', ')})`;
    return `${issue.path.join('.') || '(top level)'}: ${issue.message}`;
  });
  throw new SettingsError(`${where}: ${issues.join('; ')}`);
}

/** Flag texts (by setting name) → values, each checked as a recipe value would be. */
export function parseSettingFlags(flags: Partial<Record<SettingName, string>>): Partial<TrainSettings> {
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const raw = flags[name];
    if (raw === undefined) continue;
    const parsed = SETTINGS[name].schema.safeParse(SETTINGS[name].parseFlag(raw));
    if (!parsed.success) throw new SettingsError(`--${flagOf(name)} ${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    out[name] = parsed.data;
  }
  return out as Partial<TrainSettings>;
}

/** Layers, lowest precedence first, over the defaults; `recipe`/`description` keys are not settings. */
export function mergeSettings(...layers: (Partial<TrainSettings> | Recipe | null | undefined)[]): TrainSettings {
  const merged: Record<string, unknown> = { ...DEFAULT_TRAIN_SETTINGS };
  for (const layer of layers) {
    for (const name of SETTING_NAMES) {
      const value = (layer as Record<string, unknown> | null | undefined)?.[name];
      if (value !== undefined) merged[name] = value;
    }
  }
  const settings = merged as TrainSettings;
  if (settings.loss_norm_tokens !== null && settings.loss_agg !== 'seq-mean-token-sum-norm') {
    throw new SettingsError(`loss_norm_tokens applies to loss_agg seq-mean-token-sum-norm only (loss_agg is ${settings.loss_agg})`);
  }
  return settings;
}

/** The settings that differ between two resolutions, as "name a → b" (for the log of a resumed run). */
export function describeChanges(before: TrainSettings, after: TrainSettings): string[] {
  return SETTING_NAMES.filter((name) => JSON.stringify(before[name]) !== JSON.stringify(after[name])).map(
    (name) => `${name} ${formatSetting(before[name])} → ${formatSetting(after[name])}`,
  );
}

/** Usage lines: one per setting, flag and help. */
export function settingsUsage(): string {
  const width = Math.max(...SETTING_NAMES.map((n) => flagOf(n).length)) + 4;
  return SETTING_NAMES.map((name) => `  --${flagOf(name).padEnd(width)}${SETTINGS[name].help} (default ${formatSetting(DEFAULT_TRAIN_SETTINGS[name])})`).join('\n');
}

/** A setting as a user writes it: `none` for null, small numbers as 1e-6 rather than 0.000001. */
export function formatSetting(value: unknown): string {
  if (value === null) return 'none';
  if (typeof value === 'number' && value !== 0 && Math.abs(value) < 1e-3) return value.toExponential();
  return String(value);
}
