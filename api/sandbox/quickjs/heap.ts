/**
 * The linear memory of one QuickJS wasm instance, which refuses to grow past a per-run cap.
 *
 * Why not QuickJS's own limit alone: in the emscripten build `JS_SetMemoryLimit` bounds single
 * allocations only. QuickJS counts usable sizes from malloc_usable_size, which emscripten's
 * build of QuickJS reports as 0, so its running total never grows (quickjs-emscripten issues
 * #255 and #271): 8 MiB arrays pushed in a loop under a 64 MiB limit filled the whole 2 GiB
 * wasm address space. So the memory itself is capped: emscripten's sbrk asks the JS side to
 * grow the memory, a refused grow is a failed malloc, and QuickJS turns that into its
 * "out of memory" exception within milliseconds.
 */

const PAGE_BYTES = 65536;
/** The wasm module imports a memory of at least 256 pages (16 MiB: emscripten's INITIAL_MEMORY) and at most 32768 (2 GiB). */
const INITIAL_PAGES = 256;
const MAXIMUM_PAGES = 32768;

export class CappedHeap {
  readonly memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES });
  /** The size the instance starts with; static data, the 5 MiB shadow stack and the first heap pages live here. */
  readonly initialBytes = INITIAL_PAGES * PAGE_BYTES;
  private capBytes = this.initialBytes;
  private refused = false;

  constructor() {
    const grow = WebAssembly.Memory.prototype.grow;
    const memory = this.memory;
    // Emscripten grows the memory through this method (and catches what it throws); an own
    // property shadows the prototype's without touching the instance's view of the memory.
    Object.defineProperty(memory, 'grow', {
      value: (deltaPages: number): number => {
        if (memory.buffer.byteLength + deltaPages * PAGE_BYTES > this.capBytes) {
          this.refused = true;
          throw new RangeError('QuickJS heap limit reached');
        }
        return grow.call(memory, deltaPages);
      },
    });
  }

  /** Starts a run that may use `bytes` beyond the initial memory. */
  limitRun(bytes: number): void {
    this.capBytes = this.initialBytes + bytes;
    this.refused = false;
  }

  /** Whether a grow was refused since limitRun: the run hit its memory limit. */
  get exhausted(): boolean {
    return this.refused;
  }

  /** Whether the memory grew past its initial size. Wasm memory never shrinks. */
  get grown(): boolean {
    return this.memory.buffer.byteLength > this.initialBytes;
  }
}
