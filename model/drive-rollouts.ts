/**
 * Sends RL problems to a running API so that its trajectories are logged for the trainer:
 *
 *   npx tsx model/drive-rollouts.ts --url http://127.0.0.1:8787 [--count 64] [--n 8] [--seed 0]
 *       [--temperature 1] [--max-tokens 768] [--max-tool-calls B] [--concurrency 2] [--split rl] [--tag run=NAME]
 *
 * The server must have trajectory logging on (its storage and queue are what `cir train` reads).
 * API key from CIR_API_KEY. Prints a JSON summary (accuracy, tool calls, groups with signal) on stdout.
 */
import { parseArgs } from 'node:util';
import { runRollouts } from './rollouts.ts';
import { generateProblems, SPLITS, type Split } from './tasks/generate.ts';

const USAGE =
  'usage: npx tsx model/drive-rollouts.ts --url URL [--count 64] [--n 8] [--seed 0] [--temperature 1] [--max-tokens 768] ' +
  '[--max-tool-calls B] [--concurrency 2] [--split rl] [--tag key=value ...]';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    count: { type: 'string', default: '64' },
    n: { type: 'string', default: '8' },
    seed: { type: 'string', default: '0' },
    temperature: { type: 'string', default: '1' },
    'max-tokens': { type: 'string', default: '768' },
    'max-tool-calls': { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    split: { type: 'string', default: 'rl' },
    tag: { type: 'string', multiple: true, default: [] },
  },
});
const num = (name: keyof typeof values, min: number): number => {
  const v = Number(values[name]);
  if (!Number.isSafeInteger(v) || v < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${values[name]}\n${USAGE}`);
    process.exit(2);
  }
  return v;
};
const split = values.split as Split;
const temperature = Number(values.temperature);
const tags = Object.fromEntries((values.tag as string[]).map((t) => t.split('=', 2) as [string, string]));
if (!values.url || !SPLITS.includes(split) || !(temperature >= 0) || Object.values(tags).some((v) => v === undefined)) {
  console.error(USAGE);
  process.exit(2);
}

const problems = generateProblems({ split, count: num('count', 1), seed: num('seed', 0) });
const stats = await runRollouts(problems, {
  baseUrl: values.url,
  apiKey: process.env.CIR_API_KEY,
  n: num('n', 1),
  temperature,
  maxTokens: num('max-tokens', 1),
  ...(values['max-tool-calls'] !== undefined && { maxToolCalls: num('max-tool-calls', 0) }),
  concurrency: num('concurrency', 1),
  tags,
  onProblem: (done, total) => process.stderr.write(`\rrollouts: ${done}/${total}`),
});
process.stderr.write('\n');
console.log(JSON.stringify(stats, null, 2));
process.exit(stats.failed.length > 0 ? 1 : 0);
