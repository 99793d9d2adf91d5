import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingsToOptions } from '../../cli/commands/train.ts';
import { main } from '../../cli/main.ts';
import { LocalQueue } from '../../core/queue/local.ts';
import { FsObjectStore } from '../../core/storage/fs.ts';
import { loadRecipe } from '../../trainer/recipes/index.ts';
import { DEFAULT_TRAIN_SETTINGS, flagOf, mergeSettings, SETTING_NAMES } from '../../trainer/recipes/settings.ts';
import { runCommand } from '../cli-run.ts';
import { sendBatch } from './fixtures.ts';
import { useRolloutFixture } from './rollouts.ts';

const fixture = useRolloutFixture('recipe', { groups: 4, n: 4 });

/** `cir ...` in-process, as bin/cir.mjs runs it (usage errors exit 2), with `env` over process.env. */
const cir = (argv: string[], env: Record<string, string> = {}) => runCommand(main, argv, env);

/** A run directory with its own store and queue holding the 16 records (4 groups of 4). */
async function runWith(name: string, flags: string[]) {
  const dir = join(fixture.root, name);
  const store = new FsObjectStore(join(dir, 'objects'));
  const queue = new LocalQueue(join(dir, 'queue'));
  await sendBatch(store, queue, fixture.records);
  const env = { CIR_DATA_DIR: dir, CIR_STORAGE_DIR: join(dir, 'objects'), CIR_QUEUE_DIR: join(dir, 'queue'), CIR_CHECKPOINTS: 'ckpt' };
  const result = await cir(['train', '--run-dir', join(dir, 'run'), '--init', fixture.modelDir, '--wait-s', '0.05', '--threads', '1', ...flags], env);
  const settings = JSON.parse(await readFile(join(dir, 'run', 'settings.json'), 'utf8').catch(() => 'null'));
  return { ...result, summary: result.code === 0 ? JSON.parse(result.stdout) : null, settings, dir, env };
}

describe('cir train --recipe and settings flags', () => {
  it('--help lists every setting, the recipes and the defaults', async () => {
    const help = await cir(['train', '--help']);
    expect(help.code).toBe(0);
    for (const name of SETTING_NAMES) expect(help.stdout).toContain(`--${flagOf(name)}`);
    expect(help.stdout).toMatch(/--recipe cir\|drgrpo\|FILE/);
    expect(help.stdout).toMatch(/--clip-high\s+ratio clip above.*\(default 0\.28\)/);
    expect(help.stdout).toMatch(/--lr\s+AdamW learning rate.*\(default 1e-5\)/);
  });

  it('the cir recipe is the seed\'s settings, and maps onto the batch, trainer and engine options', () => {
    const cir = mergeSettings(loadRecipe('cir'));
    expect(cir).toMatchObject({
      estimator: 'rpp', lr: 1e-6, batch_groups: 128, mini_batch_groups: 64, samples: 16, clip_low: 0.2, clip_high: 0.28,
      dual_clip: 3, kl_coef: 0, entropy_coef: 0, loss_agg: 'token-mean', no_signal_groups: 'keep', budget: '0:2,100:3,200:4',
    });
    const options = settingsToOptions(cir);
    expect(options.batch).toMatchObject({ estimator: 'reinforce_plus_plus_baseline', dropNoSignal: false });
    expect(options.trainer).toMatchObject({ batchGroups: 128, miniBatchGroups: 64, samplesPerGroup: 16, epochs: 1 });
    expect(options.trainer.schedule).toEqual([{ step: 0, limit: 2 }, { step: 100, limit: 3 }, { step: 200, limit: 4 }]);
    expect(options.engine).toEqual({
      optimizer: { lr: 1e-6, weightDecay: 0.01, maxGradNorm: 1 },
      policyLoss: { clipLow: 0.2, clipHigh: 0.28, clipRatioC: 3, lossAggregation: 'token-mean', lossNormTokens: null, klCoef: 0, entropyCoef: 0 },
    });
    expect(settingsToOptions(mergeSettings(loadRecipe('drgrpo'))).batch).toMatchObject({ estimator: 'grpo', normByStd: false });
    expect(options.trainer).not.toHaveProperty('toolTimeoutMs'); // none: the API's own
    expect(settingsToOptions({ ...cir, tool_timeout_ms: 4_000 }).trainer).toMatchObject({ toolTimeoutMs: 4_000 });
  });

  it('records the settings in the run directory; flags override the recipe; a resumed run keeps them and logs a change', async () => {
    const first = await runWith('record', ['--recipe', 'cir', '--batch-groups', '2', '--mini-batch-groups', '1', '--samples', '4', '--lr', '2e-6']);
    expect(first.code).toBe(0);
    expect(first.settings).toMatchObject({ recipe: 'cir', estimator: 'rpp', lr: 2e-6, batch_groups: 2, mini_batch_groups: 1, samples: 4, clip_high: 0.28 });
    // 16 records = 4 groups = 2 steps of 2 problems, each step 2 mini-batches (one update per problem).
    expect(first.summary.steps.map((s: Record<string, number>) => [s.groups, s.updates, s.lr])).toEqual([[2, 2, 2e-6], [2, 2, 2e-6]]);
    expect(first.stderr).toMatch(/settings \(recipe cir\): rpp, lr 2e-6, 2 problems per step in mini-batches of 1/);

    // The same run again, a flag changed: the rest comes from settings.json.
    const store = new FsObjectStore(join(first.dir, 'objects'));
    await sendBatch(store, new LocalQueue(join(first.dir, 'queue')), fixture.records.slice(0, 8).map((r) => ({ ...r, id: crypto.randomUUID() })));
    const again = await cir(['train', '--run-dir', join(first.dir, 'run'), '--wait-s', '0.05', '--threads', '1', '--lr', '3e-6'], first.env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('settings changed from the run\'s record: lr 2e-6 → 3e-6');
    expect(JSON.parse(await readFile(join(first.dir, 'run', 'settings.json'), 'utf8'))).toMatchObject({ recipe: 'cir', lr: 3e-6, batch_groups: 2, samples: 4 });

    // settings.json is itself a recipe file.
    const copy = join(fixture.root, 'copied.json');
    await writeFile(copy, await readFile(join(first.dir, 'run', 'settings.json')));
    expect(mergeSettings(loadRecipe(copy))).toMatchObject({ lr: 3e-6, batch_groups: 2 });
  });

  it('the clip ratios, the KL and entropy coefficients reach the loss', async () => {
    const base = ['--batch-groups', '4', '--epochs', '2'];
    const plain = await runWith('loss-plain', base);
    // A zero-width clip range clips (about half of) the tokens whose ratio is not exactly 1; the default clips none at the first update.
    const clipped = await runWith('loss-clip', [...base, '--clip-low', '0', '--clip-high', '0', '--dual-clip', 'none']);
    const [p] = plain.summary.steps;
    const [c] = clipped.summary.steps;
    expect(c.clip_fraction).toBeGreaterThan(0.1);
    expect(c.clip_fraction).toBeGreaterThan(p.clip_fraction);
    // KL to the run's initial weights: zero at the first update, positive at the second (epochs 2); entropy bonus in the loss.
    const regularised = await runWith('loss-kl', [...base, '--kl-coef', '0.5', '--entropy-coef', '0.01']);
    const [r] = regularised.summary.steps;
    expect(r.kl).toBeGreaterThan(0);
    expect(p.kl).toBe(0);
    expect(r.loss).toBeLessThan(r.pg_loss + 0.5 * r.kl); // - 0.01 * entropy
    expect(r.loss).toBeCloseTo(r.pg_loss + 0.5 * r.kl - 0.01 * r.entropy, 4);
  });

  it('refuses bad recipes and settings with a message that says what is wrong (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [['--recipe', 'grpo++'], /unknown recipe "grpo\+\+": the built-in ones are cir, drgrpo/],
      [['--recipe', join(fixture.root, 'missing.json')], /cannot read recipe .*missing\.json: ENOENT/],
      [['--lr=-1'], /--lr "-1": Too small/i],
      [['--estimator', 'ppo'], /--estimator "ppo": Invalid option/i],
      [['--dual-clip', '0.5'], /--dual-clip "0.5"/],
      [['--loss-norm-tokens', '100'], /loss_norm_tokens applies to loss_agg seq-mean-token-sum-norm only/],
      [['--budget', '2:1,0:3'], /--budget "2:1,0:3": must be a tool-call budget schedule/],
      [['--tool-timeout-ms', '0'], /--tool-timeout-ms "0": Too small/i],
    ];
    const badFile = join(fixture.root, 'bad-recipe.json');
    await writeFile(badFile, JSON.stringify({ lr: 1e-6, learning_rate: 1e-6 }));
    cases.push([['--recipe', badFile], /unknown setting\(s\) learning_rate \(known: estimator, lr,/]);
    for (const [flags, message] of cases) {
      const result = await cir(['train', '--run-dir', join(fixture.root, 'bad-run'), ...flags]);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr, flags.join(' ')).toMatch(message);
    }
    expect(DEFAULT_TRAIN_SETTINGS.no_signal_groups).toBe('keep');
  });
});
