import type { ServedModel } from '../models/served.ts';
import type { GenerateRequest, GenerateResult, GroupRequest, ModelBackend, RunOptions, SequenceGroup } from '../models/types.ts';

/**
 * The served model as something that can be replaced while requests run. Each installed model is
 * reference counted: a request pins the models current when it starts (`hold`), and every generate
 * call and every open SequenceGroup counts too (which covers a streamed response that outlives its
 * handler). A swap makes the new model current at once; the old one is disposed only when its count
 * falls to zero, so no request in flight loses its model.
 */
interface Entry {
  served: ServedModel;
  inner: ModelBackend;
  active: number;
  retired: boolean;
  disposal: Promise<void> | null;
}

export class ServedSlot {
  private entry: Entry | undefined;
  private readonly draining = new Set<Entry>();

  constructor(
    initial?: ServedModel,
    private readonly log: (message: string, error?: unknown) => void = () => {},
  ) {
    if (initial) this.entry = this.track(initial);
  }

  /** For AppDeps.served: the current model (with its counting backend). */
  current(): ServedModel | undefined {
    return this.entry?.served;
  }

  /** Pins the current model for one request; call the returned function (once) when the request is over. */
  hold(): () => void {
    const entry = this.entry;
    if (!entry) return () => {};
    entry.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(entry);
    };
  }

  /** Makes `next` current; the previous model is disposed once the requests using it are done. */
  install(next: ServedModel): void {
    const previous = this.entry;
    this.entry = this.track(next);
    if (previous) {
      previous.retired = true;
      this.draining.add(previous);
      this.maybeDispose(previous);
    }
  }

  /** Old models not yet disposed (still serving requests that began before a swap). */
  get drainingCount(): number {
    return this.draining.size;
  }

  /** Resolves when every retired model has been disposed. */
  async drained(): Promise<void> {
    while (this.draining.size > 0) {
      await Promise.all([...this.draining].map((e) => e.disposal ?? new Promise((r) => setTimeout(r, 10))));
    }
  }

  /** Disposes everything: the current model, and retired ones once their requests are done. */
  async dispose(): Promise<void> {
    const current = this.entry;
    this.entry = undefined;
    if (current) {
      current.retired = true;
      this.draining.add(current);
      this.maybeDispose(current);
    }
    await this.drained();
  }

  private track(served: ServedModel): Entry {
    const entry: Entry = { served, inner: served.backend, active: 0, retired: false, disposal: null };
    entry.served = { ...served, backend: countingBackend(served.backend, () => entry.active++, () => this.release(entry)) };
    return entry;
  }

  private release(entry: Entry): void {
    entry.active--;
    this.maybeDispose(entry);
  }

  private maybeDispose(entry: Entry): void {
    if (!entry.retired || entry.active > 0 || entry.disposal) return;
    entry.disposal = entry.inner
      .dispose()
      .catch((error: unknown) => this.log(`disposing model of checkpoint ${entry.served.checkpoint.version} failed`, error))
      .finally(() => this.draining.delete(entry));
  }
}

/** A backend that reports when work starts and ends: each generate call, and each group until disposed. */
function countingBackend(inner: ModelBackend, acquire: () => void, release: () => void): ModelBackend {
  return {
    get info() {
      return inner.info;
    },
    get tokenizer() {
      return inner.tokenizer;
    },
    async generate(request: GenerateRequest, options?: RunOptions): Promise<GenerateResult> {
      acquire();
      try {
        return await inner.generate(request, options);
      } finally {
        release();
      }
    },
    startGroup(request: GroupRequest): SequenceGroup {
      acquire();
      let group: SequenceGroup;
      try {
        group = inner.startGroup(request);
      } catch (error) {
        release();
        throw error;
      }
      let open = true;
      return {
        promptTokenIds: group.promptTokenIds,
        sequences: group.sequences,
        dispose() {
          group.dispose();
          if (open) {
            open = false;
            release();
          }
        },
      };
    },
    // Disposal belongs to the slot (after draining), never to a request.
    dispose: async () => {},
  };
}
