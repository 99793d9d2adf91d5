import { parseArgs } from 'node:util';
import { createQueueFromEnv } from '../../core/queue/from-env.ts';
import { createStorageFromEnv } from '../../core/storage/from-env.ts';
import { join } from 'node:path';
import type { LossAggregation } from '../../trainer/algorithms/types.ts';
import { GradingPool } from '../../api/grading/pool/index.ts';
import { buildBatch, type BatchOptions } from '../../trainer/batch/build.ts';
import { ENGINE_KINDS, engineFactory, type EngineKind } from '../../trainer/engines/index.ts';
import type { EngineOptions } from '../../trainer/engines/types.ts';
import { resolveRunSettings, writeRunSettings, type ResolvedSettings } from '../../trainer/recipes/run-settings.ts';
import { flagOf, formatSetting, SETTING_NAMES, SettingsError, settingsUsage, type TrainSettings } from '../../trainer/recipes/settings.ts';
import type { TorchEngineOptions } from '../../trainer/engines/torch/engine.ts';
import { parseBudgetSchedule } from '../../trainer/run/budget.ts';
import { trainerEnv } from '../../trainer/run/env.ts';
import { Progress } from '../../trainer/run/progress.ts';
import { notifyServers } from '../../trainer/publish/notify.ts';
import { runTrainingJob } from '../../trainer/run/job.ts';
import { Trainer, type TrainerOptions } from '../../trainer/run/trainer.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const trainUsage = `usage: cir train --run-dir DIR [--loop] [--init MODEL_DIR] [--recipe cir|drgrpo|FILE] [--SETTING VALUE ...]
                 [--max-steps N] [--wait-s S] [--lease-s S] [--repair-latest] [--threads N] [--micro-batch-tokens N] [--notify SERVER_URL ...]
                 [--engine cpu|torch] [--device auto|cpu|cuda] [--dtype bf16|fp32] [--nproc N [--strategy ddp|fsdp]]
                 [--onnx fp32|fp16|none]
One batch job: consume the trajectories queued by the API (CIR_QUEUE*), train on them, export the model and
publish it as a checkpoint (CIR_STORAGE*, under CIR_CHECKPOINTS, default "checkpoints") that servers
watching the store pick up. --loop keeps consuming and training until SIGINT/SIGTERM.
State, settings.json, metrics.jsonl and plots/*.svg live in the run directory; a run resumes where it stopped,
with the settings it recorded (a recipe or flag given again overrides them, and the change is logged).
Steps train whole groups: a problem's samples wait until all have arrived (or --group-timeout-s passes).

Recipes (--recipe): cir = the paper's training (REINFORCE++ baseline, lr 1e-6, 128 problems x 16 samples,
mini-batches of 64, clip 0.2/0.28, dual clip 3, no KL or entropy, budget 2 -> 3 -> 4); drgrpo = Dr. GRPO;
or a JSON file of settings (the keys below with _ for -, e.g. {"lr": 2e-6}; a run's settings.json is one).
Settings (each overrides the recipe):
${settingsUsage()}

Job and engine:
  --init          weights of a new run (default: the latest published checkpoint)
  --max-steps     stop after this many steps (default: one job trains what it consumed; --loop: no limit)
  --wait-s        how long a receive waits for messages before the queue counts as empty (default 1)
  --lease-s       visibility timeout of received messages: how soon a message comes back if this trainer dies (default 300)
  --repair-latest replace a damaged latest pointer when publishing (kept beside it as latest.damaged-<time>)
  --notify        after each publish, tell this server to swap now (POST /v1/checkpoints/check; bearer key
                  from CIR_NOTIFY_API_KEY; repeatable); servers also find new checkpoints by polling
  --engine        cpu (default: in-process, small Llama/Qwen2 models) or torch (PyTorch + transformers, for
                  GPUs: Llama, Qwen2, Qwen3 checkpoints; Python from CIR_TORCH_PYTHON or .venv, made by
                  \`npm run setup:python\`). A torch checkpoint holds the Hugging Face weights and the ONNX export
  --device        torch: auto (CUDA when torch sees a GPU), cpu or cuda
  --dtype         torch: fp32 (default) or bf16 (autocast on CUDA over fp32 master weights)
  --nproc         torch: processes, one per GPU (torchrun); default 1
  --strategy      torch with --nproc: ddp (default: a replica per GPU) or fsdp (weights, gradients and AdamW
                  state sharded across the GPUs: for models whose training state does not fit one, e.g. 7B)
  --onnx          torch: the ONNX export beside the Hugging Face weights, for servers running the model
                  in-process: fp32 (default), fp16, or none (checkpoints for vLLM only: cir pull serves them)
  --threads       compute threads (cpu engine: matrix products; torch: torch.set_num_threads)
  --micro-batch-tokens  tokens per forward/backward pass; gradients accumulate over the passes, so this bounds
                  activation memory without changing the update (torch default 8192: lower it when a long
                  batch of a large-vocabulary model does not fit the GPU)
Prints a JSON summary on stdout; progress goes to stderr. Exit 0 also when the queue was empty.`;

const ESTIMATOR_OPTIONS: Record<TrainSettings['estimator'], Pick<BatchOptions, 'estimator' | 'normByStd'>> = {
  grpo: { estimator: 'grpo', normByStd: true },
  drgrpo: { estimator: 'grpo', normByStd: false },
  rpp: { estimator: 'reinforce_plus_plus_baseline', normByStd: true },
};

/** What the resolved settings mean for the batch builder, the trainer and the engine. */
export function settingsToOptions(settings: TrainSettings) {
  const batch: Partial<BatchOptions> = {
    ...ESTIMATOR_OPTIONS[settings.estimator],
    dropNoSignal: settings.no_signal_groups === 'drop',
    voidTurns: settings.void_turns,
  };
  const engine: EngineOptions = {
    optimizer: { lr: settings.lr, weightDecay: settings.weight_decay, maxGradNorm: settings.grad_clip },
    policyLoss: {
      clipLow: settings.clip_low,
      clipHigh: settings.clip_high,
      clipRatioC: settings.dual_clip,
      lossAggregation: settings.loss_agg as LossAggregation,
      lossNormTokens: settings.loss_norm_tokens,
      klCoef: settings.kl_coef,
      entropyCoef: settings.entropy_coef,
    },
  };
  const trainer = {
    ...(settings.batch_groups !== null && { batchGroups: settings.batch_groups }),
    batchRecords: settings.batch_records,
    ...(settings.mini_batch_groups !== null && { miniBatchGroups: settings.mini_batch_groups }),
    samplesPerGroup: settings.samples,
    groupPolicy: { timeoutMs: settings.group_timeout_s * 1000, incomplete: settings.incomplete_groups },
    minRecords: settings.min_records,
    epochs: settings.epochs,
    schedule: parseBudgetSchedule(settings.budget),
    ...(settings.tool_timeout_ms !== null && { toolTimeoutMs: settings.tool_timeout_ms }),
  } satisfies Partial<TrainerOptions>;
  return { batch, engine, trainer };
}

export async function trainCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'run-dir': { type: 'string' },
      loop: { type: 'boolean', default: false },
      init: { type: 'string' },
      recipe: { type: 'string' },
      ...Object.fromEntries(SETTING_NAMES.map((name) => [flagOf(name), { type: 'string' as const }])),
      'max-steps': { type: 'string' },
      'wait-s': { type: 'string', default: '1' },
      'lease-s': { type: 'string', default: '300' },
      threads: { type: 'string' },
      'micro-batch-tokens': { type: 'string' },
      notify: { type: 'string', multiple: true },
      engine: { type: 'string', default: 'cpu' },
      device: { type: 'string' },
      dtype: { type: 'string' },
      nproc: { type: 'string' },
      onnx: { type: 'string' },
      strategy: { type: 'string' },
      'repair-latest': { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const runDir = values['run-dir'] as string | undefined;
  if (!runDir) throw new UsageError('--run-dir is required');
  const strings = values as Record<string, unknown>;
  const int = (name: string, min: number) => intArg(name, strings[name] as string | undefined, min);
  const positive = (name: string) => positiveArg(name, strings[name] as string | undefined);
  const engine = values.engine as EngineKind;
  if (!ENGINE_KINDS.includes(engine)) throw new UsageError(`--engine must be ${ENGINE_KINDS.join(' or ')}, got "${values.engine}"`);

  let resolved: ResolvedSettings;
  try {
    resolved = await resolveRunSettings(runDir, {
      ...(values.recipe !== undefined && { recipe: values.recipe as string }),
      flags: Object.fromEntries(SETTING_NAMES.map((name) => [name, strings[flagOf(name)] as string | undefined])),
    });
  } catch (error) {
    if (error instanceof SettingsError) throw new UsageError(error.message);
    throw error;
  }
  const mapped = settingsToOptions(resolved.settings);
  const engineOptions: TorchEngineOptions = {
    ...mapped.engine,
    ...(int('threads', 1) !== undefined && { threads: int('threads', 1) }),
    ...(int('micro-batch-tokens', 1) !== undefined && { microBatchTokens: int('micro-batch-tokens', 1) }),
    ...torchOptions(engine, values as { device?: string; dtype?: string; nproc?: string; strategy?: string; onnx?: string }),
  };

  // A bad variable throws ConfigError, which the CLI reports with exit code 2.
  const env = trainerEnv(process.env);
  const store = createStorageFromEnv(process.env, { dataDir: env.CIR_DATA_DIR });
  const queue = createQueueFromEnv(process.env, { dataDir: env.CIR_DATA_DIR });

  const progress = new Progress(io.stderr as NodeJS.WritableStream & { isTTY?: boolean });
  const abort = new AbortController();
  const stop = (signal: string) => {
    progress.line(`received ${signal}: finishing the current step, then stopping`);
    abort.abort();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);

  let trainer: Trainer | undefined;
  // Re-grading in worker threads with a hard deadline: no logged answer can hold the trainer.
  const grader = new GradingPool();
  try {
    trainer = await Trainer.open({
      runDir,
      store,
      queue,
      prefix: env.CIR_CHECKPOINTS,
      createEngine: engineFactory(engine),
      engineOptions,
      buildBatch: (records, _step, verdicts) => buildBatch(records, { ...mapped.batch, ...(verdicts && { verdicts }) }),
      grader,
      init: values.init ? { dir: values.init as string, version: null } : undefined,
      ...mapped.trainer,
      queueWaitS: positive('wait-s'),
      visibilityTimeoutS: int('lease-s', 1),
      repairLatest: values['repair-latest'] as boolean,
      progress,
      log: (line) => progress.line(line),
    });
    await writeRunSettings(runDir, resolved);
    const s = resolved.settings;
    progress.line(
      `settings${resolved.recipe ? ` (recipe ${resolved.recipe})` : ''}: ${s.estimator}, lr ${formatSetting(s.lr)}, ` +
        `${s.batch_groups !== null ? `${s.batch_groups} problems` : `${s.batch_records} records`} per step` +
        `${s.mini_batch_groups !== null ? ` in mini-batches of ${s.mini_batch_groups}` : ''}, clip ${s.clip_low}/${s.clip_high}, ` +
        `dual clip ${s.dual_clip ?? 'off'}, kl ${s.kl_coef}, entropy ${s.entropy_coef}, ${s.loss_agg}, budget ${s.budget} → ${join(runDir, 'settings.json')}`,
    );
    if (resolved.changes.length > 0) progress.line(`settings changed from the run's record: ${resolved.changes.join('; ')}`);
    const { steps, consumed } = await runTrainingJob(trainer, {
      loop: values.loop as boolean,
      maxSteps: int('max-steps', 1),
      signal: abort.signal,
      onStep: async ({ step, version, metrics: m }) => {
        progress.line(
          `step ${step}: reward ${fmt(m.reward)}, accuracy ${fmt(m.accuracy)}, tool-call rate ${fmt(m.tool_call_rate)}, ` +
            `response length ${fmt(m.response_length)}, entropy ${fmt(m.entropy)}, clip fraction ${fmt(m.clip_fraction)} → ${version}`,
        );
        // Best effort: servers that miss the notification pick the checkpoint up at their next poll.
        for (const n of await notifyServers((values.notify as string[] | undefined) ?? [], { apiKey: process.env.CIR_NOTIFY_API_KEY })) {
          progress.line(`notified ${n.url}: ${n.ok ? '' : 'FAILED '}${n.detail}`);
        }
      },
    });
    if (steps.length === 0) progress.line(consumed.accepted === 0 ? 'queue empty: no new trajectories, nothing to train' : 'no step taken');
    if (trainer.heldRecords > 0) progress.line(`${trainer.heldRecords} record(s) held for groups whose other samples have not arrived yet`);
    io.stdout.write(
      `${JSON.stringify(
        {
          run_dir: runDir,
          step: trainer.step,
          latest: trainer.runState.model.version,
          ...(resolved.recipe !== null && { recipe: resolved.recipe }),
          steps: steps.map((st) => st.metrics),
          consumed,
          pending_records: trainer.pendingRecords(),
          held_records: trainer.heldRecords,
          set_aside_records: trainer.runState.set_aside,
          totals: trainer.consumer.totals(),
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  } catch (error) {
    progress.line(`cir train: ${(error as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await trainer?.close();
    await grader.dispose();
    await queue.close?.();
    await store.close?.();
  }
}

/** --device, --dtype, --nproc, --strategy and --onnx: checked here, so a typo is a usage error rather than a failed start. */
function torchOptions(
  engine: EngineKind,
  values: { device?: string; dtype?: string; nproc?: string; strategy?: string; onnx?: string },
): Pick<TorchEngineOptions, 'device' | 'dtype' | 'nproc' | 'strategy' | 'onnx'> {
  const given = (['device', 'dtype', 'nproc', 'strategy', 'onnx'] as const).filter((name) => values[name] !== undefined);
  if (engine !== 'torch') {
    if (given.length > 0) throw new UsageError(`--${given.join(', --')} ${given.length > 1 ? 'apply' : 'applies'} to --engine torch only`);
    return {};
  }
  const { device, dtype, strategy, onnx } = values;
  if (strategy !== undefined && !['ddp', 'fsdp'].includes(strategy)) throw new UsageError(`--strategy must be ddp or fsdp, got "${strategy}"`);
  if (device !== undefined && !['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`--device must be auto, cpu or cuda, got "${device}"`);
  if (dtype !== undefined && !['bf16', 'fp32'].includes(dtype)) throw new UsageError(`--dtype must be bf16 or fp32, got "${dtype}"`);
  if (onnx !== undefined && !['fp32', 'fp16', 'none'].includes(onnx)) throw new UsageError(`--onnx must be fp32, fp16 or none, got "${onnx}"`);
  const nproc = intArg('nproc', values.nproc, 1);
  return {
    ...(device !== undefined && { device: device as TorchEngineOptions['device'] }),
    ...(dtype !== undefined && { dtype: dtype as TorchEngineOptions['dtype'] }),
    ...(nproc !== undefined && { nproc }),
    ...(onnx !== undefined && { onnx: onnx as TorchEngineOptions['onnx'] }),
    ...(strategy !== undefined && { strategy: strategy as TorchEngineOptions['strategy'] }),
  };
}

function fmt(value: unknown): string {
  return typeof value === 'number' ? (Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3)) : 'n/a';
}

function intArg(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

function positiveArg(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number, got "${raw}"`);
  return n;
}
