import { afterAll, beforeAll } from 'vitest';
import { OnnxBackend } from '../../api/models/onnx/backend.ts';
import type { ModelBackend } from '../../api/models/types.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { tempDir } from './fixtures.ts';
import { TRAJECTORY_SCHEMA_VERSION, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';

/**
 * Real rollouts of a model for trainer tests: per group, n samples of one prompt, each a model turn,
 * a sandbox-style output block appended as ids (masked, no logprobs), and a second model turn, with the
 * behaviour logprobs the backend reported. The reward is +1 for even sample indices and -1 for odd ones,
 * so every group carries a learning signal.
 */
export async function rolloutRecords(
  backend: ModelBackend,
  { groups, n, seed = 0, checkpoint = 'init' }: { groups: number; n: number; seed?: number; checkpoint?: string },
): Promise<TrajectoryRecord[]> {
  const records: TrajectoryRecord[] = [];
  const output = backend.tokenizer.encode('\n```output\n42\n```\n', { addSpecialTokens: false });
  for (let g = 0; g < groups; g++) {
    const problem = `What is ${g + 2} times ${g + 3}?`;
    const group = backend.startGroup({ prompt: { messages: [{ role: 'user', content: problem }] }, n, seed: seed + g * n });
    try {
      for (const sequence of group.sequences) {
        const first = await sequence.generate({ maxTokens: 5, temperature: 1, ignoreEos: true });
        sequence.append(output);
        const second = await sequence.generate({ maxTokens: 4, temperature: 1, ignoreEos: true });
        const a = first.tokenIds.length;
        const o = output.length;
        const b = second.tokenIds.length;
        records.push({
          schema_version: TRAJECTORY_SCHEMA_VERSION,
          id: crypto.randomUUID(),
          request_id: `req-${seed}-${g}`,
          sample_index: sequence.index,
          group_id: `${seed}-${g}`,
          group_size: n,
          model: backend.info.id,
          checkpoint_version: checkpoint,
          problem,
          prompt_ids: [...group.promptTokenIds],
          response_ids: [...first.tokenIds, ...output, ...second.tokenIds],
          logprobs: [...first.logprobs, ...output.map(() => null), ...second.logprobs],
          loss_mask: [...first.tokenIds.map(() => 1 as const), ...output.map(() => 0 as const), ...second.tokenIds.map(() => 1 as const)],
          turns: [
            { kind: 'code', start: 0, end: a },
            { kind: 'output', start: a, end: a + o },
            { kind: 'text', start: a + o, end: a + o + b },
          ],
          tool_calls: [{ turn: 0, output_turn: 1, language: 'python', code: 'print(42)', status: 'ok', duration_ms: 1, truncated: false }],
          budget: { limit: 2, used: 1 },
          final_answer: '42',
          reward: sequence.index % 2 === 0 ? 1 : -1,
          finish_reason: 'length',
          partial: false,
          timings: { total_ms: 1, generation_ms: 1, tool_ms: 0 },
          request: { temperature: 1 },
          created_at: new Date().toISOString(),
        });
      }
    } finally {
      group.dispose();
    }
  }
  return records;
}

/**
 * For a test file: before all its tests, the tiny fixture model, `groups` × `n` real rollout records of
 * it and a temp directory (removed after). Read the fields inside tests (they are set in beforeAll).
 */
export function useRolloutFixture(prefix: string, size: { groups: number; n: number }) {
  const fixture = { modelDir: '', records: [] as TrajectoryRecord[], root: '' };
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    fixture.modelDir = await ensureModel('tiny');
    const backend = await OnnxBackend.load(fixture.modelDir, { threads: 1 });
    try {
      fixture.records = await rolloutRecords(backend, size);
    } finally {
      await backend.dispose();
    }
    const dir = await tempDir(prefix);
    fixture.root = dir.dir;
    cleanup = dir.cleanup;
  });
  afterAll(() => cleanup?.());
  return fixture;
}
