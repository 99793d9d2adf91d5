import variant from '@jitl/quickjs-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import type { ExecRequest, ExecResult } from '../types.ts';
import { CappedHeap } from './heap.ts';
import { runSnippet, type RunLimits } from './run.ts';

const MiB = 1024 * 1024;

export interface EngineOptions extends RunLimits {
  /** Milliseconds, monotonic; see RunOptions.now. */
  now?: () => number;
}

interface Instance {
  module: QuickJSWASMModule;
  heap: CappedHeap;
}

/**
 * Runs snippets one after another on one QuickJS wasm instance, each in a fresh runtime and
 * context. The instance is replaced after a run that grew its memory (wasm memory never
 * shrinks: the next run's limit would not hold, and an idle engine would keep the peak) or
 * that broke it (a host exception from inside wasm). Replacing costs a few milliseconds:
 * the WebAssembly.Module is compiled once by the caller and only instantiated here.
 */
export class QuickJSEngine {
  private stale = false;
  private reloading: Promise<void> | undefined;

  private constructor(
    private readonly wasmModule: WebAssembly.Module,
    private readonly options: EngineOptions,
    private instance: Instance,
  ) {}

  static async load(wasmModule: WebAssembly.Module, options: EngineOptions): Promise<QuickJSEngine> {
    return new QuickJSEngine(wasmModule, options, await instantiate(wasmModule));
  }

  /** Resolves once `run` may be called: at once, or after replacing a grown or broken instance. */
  async ready(): Promise<void> {
    while (this.stale) {
      this.reloading ??= this.reload();
      await this.reloading;
    }
  }

  /** Bytes of wasm memory the current instance holds (it never shrinks; a grown instance is replaced before the next run). */
  get heapBytes(): number {
    return this.instance.heap.memory.buffer.byteLength;
  }

  /** Runs one snippet synchronously. Call `ready()` before each run. */
  run(request: ExecRequest, cancelled?: () => boolean): ExecResult {
    if (this.stale) throw new Error('QuickJSEngine.run called before ready()');
    const { module, heap } = this.instance;
    heap.limitRun(request.memoryMb * MiB);
    const outcome = runSnippet(module, request, { ...this.options, heapExhausted: () => heap.exhausted, cancelled });
    this.stale = outcome.moduleBroken || heap.grown;
    return outcome.result;
  }

  private async reload(): Promise<void> {
    try {
      this.instance = await instantiate(this.wasmModule);
      this.stale = false;
    } finally {
      this.reloading = undefined;
    }
  }
}

async function instantiate(wasmModule: WebAssembly.Module): Promise<Instance> {
  const heap = new CappedHeap();
  const module = await newQuickJSWASMModuleFromVariant(newVariant(variant, { wasmModule, wasmMemory: heap.memory }));
  return { module, heap };
}
