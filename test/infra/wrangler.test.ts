import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { knownEnvNames, read, ROOT, SECRET_NAMES, sourceFiles } from './definitions.ts';

/**
 * wrangler.toml as wrangler itself reads it (its own parser and validator), for the top level and each named
 * environment: the bindings are the ones the Worker reads, the variables are ones the server knows, no
 * secret has a value, and infra/cloudflare/create-resources.sh creates exactly the resources bound.
 */

const ENVIRONMENTS = ['dev', 'staging', 'production'] as const;
/** Bound for the Worker's checkpoint store (issue 20) before api/worker.ts reads it. */
const BOUND_AHEAD = ['CHECKPOINTS'];

let warnings: string[];
beforeEach(() => {
  warnings = [];
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void warnings.push(args.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

const readConfig = (env?: string) => unstable_readConfig({ config: join(ROOT, 'wrangler.toml'), env });

/** The bindings the Worker entry (api/worker.ts, and api/worker/ should it grow one) reads from its env: `env.NAME`. */
function workerBindings(): string[] {
  const files = sourceFiles('api').filter((file) => /^api\/worker(\.ts$|\/)/.test(file));
  const names = files.flatMap((file) => [...read(file).matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]!));
  return [...new Set(names)].sort();
}

describe('wrangler.toml', () => {
  it('keeps the top level as the local development Worker (`npx wrangler dev`), without warnings', () => {
    const config = readConfig();
    expect(warnings).toEqual([]);
    expect(config.main).toBe(join(ROOT, 'api/worker.ts'));
    expect(config.rules.map((r: { type: string }) => r.type)).toContain('CompiledWasm');
  });

  it.each(ENVIRONMENTS)('env %s: valid, binds the bucket and queue the Worker reads, names its own resources', (name) => {
    const config = readConfig(name);
    expect(warnings).toEqual([]);
    expect(config.name).toBe(`cir-${name}`);
    // Inherited from the top level: the same entry and wasm rule.
    expect(config.main).toBe(join(ROOT, 'api/worker.ts'));
    expect(config.rules.map((r: { type: string }) => r.type)).toContain('CompiledWasm');

    expect(workerBindings()).toEqual(expect.arrayContaining(['TRAJECTORIES', 'TRAJECTORY_QUEUE']));
    const bound = [...config.r2_buckets.map((b: { binding: string }) => b.binding), ...(config.queues.producers ?? []).map((q: { binding: string }) => q.binding)].sort();
    expect(workerBindings().filter((b) => !bound.includes(b))).toEqual([]);
    expect(bound.filter((b) => !workerBindings().includes(b) && !BOUND_AHEAD.includes(b))).toEqual([]);

    // One bucket for trajectories and checkpoints: the trainer reaches both through R2's S3 API with one CIR_S3_BUCKET.
    expect(new Set(config.r2_buckets.map((b: { bucket_name?: string }) => b.bucket_name))).toEqual(new Set([`cir-${name}`]));
    expect(config.queues.producers).toEqual([{ binding: 'TRAJECTORY_QUEUE', queue: `cir-trajectories-${name}` }]);
    // A queue has one consumer, and this one's is the trainer pulling over HTTP (create-resources.sh adds it):
    // no Worker consumer on it; and a Worker consumer of another queue needs a queue() handler to deliver to.
    const consumers = config.queues.consumers ?? [];
    expect(consumers.filter((c: { queue: string }) => c.queue === `cir-trajectories-${name}`)).toEqual([]);
    if (consumers.length > 0) expect(read('api/worker.ts')).toMatch(/\bqueue\s*\(/);
  });

  it('sets only variables the server knows, and no secret', () => {
    const known = knownEnvNames();
    for (const env of [undefined, ...ENVIRONMENTS]) {
      const vars = Object.keys(readConfig(env).vars);
      expect(vars.filter((v) => !known.has(v)), `vars of ${env ?? 'the top level'}`).toEqual([]);
      expect(vars.filter((v) => SECRET_NAMES.includes(v))).toEqual([]);
    }
    // Not even in a table wrangler ignores: a secret name is never assigned in the file.
    for (const secret of SECRET_NAMES) expect(read('wrangler.toml')).not.toMatch(new RegExp(`^\\s*${secret}\\s*=`, 'm'));
  });

  it('lists the secrets the Worker reads, and they are ones the server knows', () => {
    const listed = [...read('wrangler.toml').matchAll(/^#\s+(CIR_[A-Z0-9_]+)\s{2,}/gm)].map((m) => m[1]!);
    expect(listed).toEqual(['CIR_API_KEYS', 'CIR_SANDBOX_API_KEY', 'CIR_MODEL_API_KEY']);
    const known = knownEnvNames();
    expect(listed.filter((s) => !known.has(s))).toEqual([]);
    for (const secret of listed) expect(read('infra/README.md')).toContain(`wrangler secret put ${secret}`);
  });
});

describe('infra/cloudflare/create-resources.sh', () => {
  const script = join(ROOT, 'infra/cloudflare/create-resources.sh');

  it.each(ENVIRONMENTS)('creates exactly what env %s binds, with a dead-letter queue behind the pull consumer', (name) => {
    const commands = execFileSync('bash', [script, name, '--dry-run'], { encoding: 'utf8' }).trim().split('\n');
    const config = readConfig(name);
    const bucket = config.r2_buckets[0]!.bucket_name;
    const queue = config.queues.producers![0]!.queue;
    expect(commands).toEqual([
      `npx wrangler r2 bucket create ${bucket}`,
      `npx wrangler queues create ${queue}-dlq --message-retention-period-secs 1209600`,
      `npx wrangler queues create ${queue} --message-retention-period-secs 1209600`,
      `npx wrangler queues consumer http add ${queue} --visibility-timeout-secs 300 --message-retries 10 --dead-letter-queue ${queue}-dlq`,
    ]);
    // The lease covers the trainer's own (trainer/consumer/consumer.ts), which a pull consumer cannot extend.
    expect(read('trainer/consumer/consumer.ts')).toMatch(/visibilityTimeoutS: 300\b/);
  });

  it('refuses an environment wrangler.toml does not have', () => {
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync('bash', [script, 'prod'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toContain('unknown environment "prod"');
  });

  it('is what the deployment guide runs', () => {
    expect(read('infra/README.md')).toContain('infra/cloudflare/create-resources.sh production');
  });
});
