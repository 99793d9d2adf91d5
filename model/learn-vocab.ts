/**
 * Learns the default vocabulary's word merges (model/vocab.ts) and writes them to
 * model/word-merges.json:
 *
 *   npx tsx model/learn-vocab.ts [--merges 1024] [--count 3000]
 *
 * The corpus is what the model reads and writes in training: `--count` warm-start and as many RL
 * problems with their reference solutions (every style, run in QuickJS). Held-out problems are
 * never part of it (their texts are reserved). Learning stops early once no pair occurs twice
 * (533 merges with the defaults). Deterministic: the same options give the same file.
 */
import { writeFile } from 'node:fs/promises';
import { Rng } from '../api/models/generation/rng.ts';
import { createQuickJSNodeExecutor } from '../api/sandbox/quickjs/node.ts';
import { DIGIT_GROUP_SPLIT_REGEX, learnByteLevelBpe } from '../core/onnx/bpe.ts';
import { parseScriptArgs } from '../scripts/args.ts';
import { drawStyle, ReferenceSolver } from './solutions/reference.ts';
import { generateProblems } from './tasks/generate.ts';
import { Draw } from './tasks/random.ts';
import { DIGIT_GROUP_VOCAB, UNMERGEABLE_BYTES, WORD_MERGES_FILE } from './vocab.ts';

const args = parseScriptArgs('usage: npx tsx model/learn-vocab.ts [--merges 1024] [--count 3000]', {
  options: { merges: { type: 'string', default: '1024' }, count: { type: 'string', default: '3000' } },
});
const numMerges = args.int('merges', 0);
const count = args.int('count', 1);

const executor = createQuickJSNodeExecutor({ threads: 1 });
try {
  const solver = new ReferenceSolver(executor);
  const draw = new Draw(new Rng(11));
  const texts: string[] = [];
  for (const split of ['warmstart', 'rl'] as const) {
    for (const problem of generateProblems({ split, count, seed: 0 })) {
      const solution = await solver.solve(problem, drawStyle(draw), draw);
      texts.push(`user\n${problem.text}\nassistant\n${solution.text}`);
    }
  }
  const corpus = texts.join('\n');
  const learned = learnByteLevelBpe(corpus, numMerges, { base: DIGIT_GROUP_VOCAB, splitRegex: DIGIT_GROUP_SPLIT_REGEX, unmergeableBytes: UNMERGEABLE_BYTES });
  const merges = learned.merges.slice(DIGIT_GROUP_VOCAB.merges.length);
  await writeFile(WORD_MERGES_FILE, `${JSON.stringify(merges)}\n`);
  console.error(`${merges.length} word merges from ${texts.length} transcripts (${corpus.length} chars) → ${WORD_MERGES_FILE}`);
} finally {
  await executor.dispose();
}
