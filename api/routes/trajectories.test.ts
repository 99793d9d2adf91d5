import { afterAll, describe, expect, it } from 'vitest';
import { encodeBatch } from '../../core/logging/batch.ts';
import type { TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { FlakyMemoryStore, makeRecord } from '../../test/logging/fixtures.ts';
import { jsSandbox } from '../../test/eval/fixtures.ts';
import { createApp } from '../app.ts';
import { loadConfig } from '../config.ts';

/** GET /v1/trajectories over the store the logger writes: newest first, filtered, paged; one record with its mask. */

const sandbox = jsSandbox();
afterAll(() => sandbox.dispose());

const at = (minute: number, day = 5) => `2026-12-0${day}T10:${String(minute).padStart(2, '0')}:00.000Z`;

async function storeWith(batches: TrajectoryRecord[][]): Promise<FlakyMemoryStore> {
  const store = new FlakyMemoryStore();
  for (const records of batches) {
    const batch = await encodeBatch(records.map((r) => JSON.stringify(r)), 'trajectories', new Date(records[0]!.created_at));
    await store.put(batch.key, batch.bytes);
  }
  return store;
}

const appWith = (store?: FlakyMemoryStore) => createApp({ config: loadConfig({}), sandbox, runtime: 'node', log: () => {}, ...(store && { trajectoryStore: store }) });
const get = async (app: ReturnType<typeof appWith>, path: string) => {
  const res = await app.request(path);
  return { status: res.status, body: (await res.json()) as any };
};

describe('GET /v1/trajectories', () => {
  const records = [
    makeRecord({ created_at: at(1, 4), problem: 'yesterday', reward: -1, finish_reason: 'length' }),
    makeRecord({ created_at: at(1), problem: 'first', reward: 1, checkpoint_version: 'v1' }),
    makeRecord({ created_at: at(3), problem: 'third', reward: -1, checkpoint_version: 'v2', final_answer: '77' }),
    makeRecord({ created_at: at(2), problem: 'second', reward: 1, checkpoint_version: 'v2', tool_calls: [], budget: { limit: 2, used: 0 }, turns: [{ kind: 'text', start: 0, end: 12 }], loss_mask: new Array(12).fill(1), logprobs: new Array(12).fill(-0.5) }),
  ];

  it('lists newest first across days and objects, and pages with next_cursor', async () => {
    const app = appWith(await storeWith([[records[0]!], [records[1]!, records[2]!], [records[3]!]]));
    const first = await get(app, '/v1/trajectories?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.data.map((t: any) => t.problem)).toEqual(['third', 'second']);
    expect(first.body.data[0]).toMatchObject({ checkpoint_version: 'v2', reward: -1, tool_calls: 1, response_tokens: 12, final_answer: '77' });
    const second = await get(app, `/v1/trajectories?limit=2&before=${first.body.next_cursor}`);
    expect(second.body.data.map((t: any) => t.problem)).toEqual(['first', 'yesterday']);
    expect(second.body.next_cursor).toBeNull();
  });

  it('filters by time, checkpoint, reward, finish reason, tool calls and text', async () => {
    const app = appWith(await storeWith([[records[0]!], [records[1]!, records[2]!, records[3]!]]));
    const problems = async (q: string) => (await get(app, `/v1/trajectories?${q}`)).body.data.map((t: any) => t.problem);
    expect(await problems(`since=${at(2)}`)).toEqual(['third', 'second']);
    expect(await problems(`until=${at(2)}`)).toEqual(['first', 'yesterday']);
    expect(await problems('checkpoint=v2')).toEqual(['third', 'second']);
    expect(await problems('min_reward=0')).toEqual(['second', 'first']);
    expect(await problems('max_reward=-1&finish_reason=length')).toEqual(['yesterday']);
    expect(await problems('max_tool_calls=0')).toEqual(['second']);
    expect(await problems('min_tool_calls=1&q=THI')).toEqual(['third']);
    expect(await problems('q=77')).toEqual(['third']);
  });

  it('opens one record with its tokens: the ids, mask and turn of each (no model: no token texts)', async () => {
    const app = appWith(await storeWith([records]));
    const { status, body } = await get(app, `/v1/trajectories/${records[2]!.id}`);
    expect(status).toBe(200);
    expect(body.trajectory).toEqual(records[2]);
    expect(body.tokens).toBeNull();
    expect((await get(app, `/v1/trajectories/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it('refuses bad queries with what is wrong, and answers 501 without a store', async () => {
    const app = appWith(await storeWith([records]));
    for (const [q, message] of [
      ['min_reward=abc', /min_reward must be a number/],
      ['since=yesterday', /since must be an ISO time/],
      ['finish_reason=done', /finish_reason must be one of stop/],
      ['limit=0', /limit must be at least 1/],
      ['before=../../etc', /before must be a next_cursor/],
      ['path=/etc/passwd', /path/],
    ] as const) {
      const { status, body } = await get(app, `/v1/trajectories?${q}`);
      expect(status, q).toBe(400);
      expect(body.error.message, q).toMatch(message);
    }
    expect((await get(app, '/v1/trajectories/not-a-uuid')).body.error.message).toMatch(/uuid/);
    expect((await get(appWith(), '/v1/trajectories')).status).toBe(501);
  });
});
