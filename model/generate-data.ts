/**
 * Writes a split's problems with their reference solutions and warm-start sequences as JSONL:
 *
 *   npx tsx model/generate-data.ts --split warmstart --count 5000 [--seed 0] --out data/warmstart.jsonl
 *
 * One line per problem: { problem, solution: { style, bug?, text, correct, tool_calls },
 * ids, loss_mask, prompt_length }. Every code block is run in the QuickJS sandbox; every sequence
 * is checked to decode back to its prompt and transcript. A summary goes to stderr.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadTokenizer } from '../api/models/tokenizer.ts';
import { createQuickJSNodeExecutor } from '../api/sandbox/quickjs/node.ts';
import { parseScriptArgs } from '../scripts/args.ts';
import { Progress } from '../trainer/run/progress.ts';
import { DEFAULT_MODEL_CONFIG } from './config.ts';
import { buildDataset, datasetStats } from './data.ts';
import { problemJson, SPLITS } from './tasks/generate.ts';
import { writeVocabFiles } from './vocab.ts';

const USAGE = `usage: npx tsx model/generate-data.ts --split ${SPLITS.join('|')} --count N [--seed S] --out FILE.jsonl`;

const args = parseScriptArgs(USAGE, {
  options: { split: { type: 'string', default: 'warmstart' }, count: { type: 'string' }, seed: { type: 'string', default: '0' }, out: { type: 'string' } },
});
const split = args.oneOf('split', SPLITS);
const count = args.int('count', 1);
const seed = args.int('seed', 0);
const out = resolve(args.required('out'));

const vocabDir = join(tmpdir(), `cir-model-vocab-${process.pid}`);
await writeVocabFiles(vocabDir, DEFAULT_MODEL_CONFIG.maxPositionEmbeddings);
const tokenizer = await loadTokenizer(vocabDir);
const executor = createQuickJSNodeExecutor({ threads: 1 });
const started = performance.now();
const progress = new Progress(process.stderr);
try {
  const items = await buildDataset(executor, tokenizer, {
    split,
    count,
    seed,
    onExample: (done, total) => progress.update('solutions', done, total),
  });
  progress.clear();
  await mkdir(dirname(out), { recursive: true });
  const stream = createWriteStream(out);
  for (const { problem, solution, example } of items) {
    const decoded = tokenizer.decode(example.ids.slice(example.promptLength, -1));
    if (decoded !== solution.text) throw new Error(`${problem.id}: the sequence does not decode to its transcript`);
    const line = {
      problem: problemJson(problem),
      solution: { style: solution.style, bug: solution.bug, text: solution.text, correct: solution.correct, tool_calls: solution.toolCalls },
      ids: example.ids,
      loss_mask: example.lossMask,
      prompt_length: example.promptLength,
    };
    if (!stream.write(`${JSON.stringify(line)}\n`)) await new Promise((r) => stream.once('drain', r));
  }
  await new Promise<void>((res, rej) => stream.end((error?: Error | null) => (error ? rej(error) : res())));
  const stats = datasetStats(items);
  console.error(`wrote ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(stats)}`);
} finally {
  await executor.dispose();
  await rm(vocabDir, { recursive: true, force: true });
}
