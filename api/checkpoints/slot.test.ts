import { describe, expect, it } from 'vitest';
import type { GenerateResult, ModelBackend, SequenceGroup } from '../models/types.ts';
import { ServedSlot } from './slot.ts';

/**
 * Reference counting only: a backend whose generate() waits until the test releases it, so the test
 * controls exactly which requests are in flight at the moment of a swap. (Real models swap under
 * load in test/trainer/hot-swap.test.ts.)
 */
function heldBackend(name: string) {
  const releases: (() => void)[] = [];
  let disposed = false;
  const backend = {
    info: { id: name, backend: 'onnx', contextLength: 16, eosTokenIds: [], logprobs: 'sampling', maxN: 1 },
    tokenizer: {} as ModelBackend['tokenizer'],
    async generate(): Promise<GenerateResult> {
      if (disposed) throw new Error(`${name} used after dispose`);
      await new Promise<void>((resolve) => releases.push(resolve));
      if (disposed) throw new Error(`${name} disposed during a request`);
      return { promptTokenIds: [], sequences: [], usage: { promptTokens: 0, completionTokens: 0 } };
    },
    startGroup(): SequenceGroup {
      if (disposed) throw new Error(`${name} used after dispose`);
      return { promptTokenIds: [], sequences: [], dispose() {} };
    },
    async dispose() {
      disposed = true;
    },
  } satisfies ModelBackend;
  return { backend, releaseAll: () => releases.splice(0).forEach((r) => r()), isDisposed: () => disposed };
}

describe('ServedSlot', () => {
  it('disposes the old model only after the requests in flight on it finish', async () => {
    const a = heldBackend('a');
    const b = heldBackend('b');
    const slot = new ServedSlot({ backend: a.backend, checkpoint: { version: 'v1', toolBudget: 2 } });
    const inflight = slot.current()!.backend.generate({ prompt: [1], maxTokens: 1 });
    slot.install({ backend: b.backend, checkpoint: { version: 'v2', toolBudget: 3 } });
    expect(slot.current()!.checkpoint).toEqual({ version: 'v2', toolBudget: 3 });
    await new Promise((r) => setTimeout(r, 20));
    expect(a.isDisposed()).toBe(false);
    expect(slot.drainingCount).toBe(1);
    a.releaseAll();
    await expect(inflight).resolves.toBeDefined();
    await slot.drained();
    expect(a.isDisposed()).toBe(true);
    expect(b.isDisposed()).toBe(false);
    await slot.dispose();
    expect(b.isDisposed()).toBe(true);
  });

  it('keeps a model pinned by a request that has not called it yet, and one with an open group', async () => {
    const a = heldBackend('a');
    const slot = new ServedSlot({ backend: a.backend, checkpoint: { version: 'v1' } });
    const release = slot.hold(); // a request started and read the model, then awaited its body
    const group = slot.current()!.backend.startGroup({ prompt: [1] });
    const pinned = slot.current()!.backend;
    slot.install({ backend: heldBackend('b').backend, checkpoint: { version: 'v2' } });
    release();
    release(); // idempotent
    expect(a.isDisposed()).toBe(false);
    const late = pinned.generate({ prompt: [1], maxTokens: 1 }); // still usable while the group is open
    a.releaseAll();
    await late;
    expect(a.isDisposed()).toBe(false);
    group.dispose();
    await slot.drained();
    expect(a.isDisposed()).toBe(true);
  });

  it('disposes a replaced model at once when nothing uses it', async () => {
    const a = heldBackend('a');
    const slot = new ServedSlot({ backend: a.backend, checkpoint: { version: 'v1' } });
    slot.install({ backend: heldBackend('b').backend, checkpoint: { version: 'v2' } });
    await slot.drained();
    expect(a.isDisposed()).toBe(true);
  });
});
