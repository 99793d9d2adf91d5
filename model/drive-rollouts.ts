/**
 * Sends RL problems to a running API so that its trajectories are logged for the trainer:
 *
 *   npx tsx model/drive-rollouts.ts --url http://127.0.0.1:8787 [--count 64] [--n 8] [--seed 0]
 *       [--temperature 1] [--max-tokens 768] [--max-tool-calls B] [--concurrency 2] [--split rl] [--tag run=NAME]
 *
 * The server must have trajectory logging on (its storage and queue are what `cir train` reads).
 * API key from CIR_API_KEY. Prints a JSON summary (accuracy, tool calls, groups with signal) on stdout.
 */
import { parseScriptArgs } from '../scripts/args.ts';
import { Progress } from '../trainer/run/progress.ts';
import { runRollouts } from './rollouts.ts';
import { generateProblems, SPLITS } from './tasks/generate.ts';

const USAGE =
  'usage: npx tsx model/drive-rollouts.ts --url URL [--count 64] [--n 8] [--seed 0] [--temperature 1] [--max-tokens 768] ' +
  '[--max-tool-calls B] [--concurrency 2] [--split rl] [--tag key=value ...]';

const args = parseScriptArgs(USAGE, {
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
const split = args.oneOf('split', SPLITS);
const temperature = args.number('temperature', 0);
const baseUrl = args.required('url');
const tags = Object.fromEntries(
  args.values.tag.map((t) => {
    const [key, value] = t.split('=', 2);
    if (value === undefined) args.fail(`--tag must be key=value, got ${t}`);
    return [key, value];
  }),
);

const problems = generateProblems({ split, count: args.int('count', 1), seed: args.int('seed', 0) });
const progress = new Progress(process.stderr);
const stats = await runRollouts(problems, {
  baseUrl,
  apiKey: process.env.CIR_API_KEY,
  n: args.int('n', 1),
  temperature,
  maxTokens: args.int('max-tokens', 1),
  ...(args.values['max-tool-calls'] !== undefined && { maxToolCalls: args.int('max-tool-calls', 0) }),
  concurrency: args.int('concurrency', 1),
  tags,
  onProblem: (done, total) => progress.update('rollouts', done, total),
});
progress.clear();
console.log(JSON.stringify(stats, null, 2));
process.exit(stats.failed.length > 0 ? 1 : 0);
