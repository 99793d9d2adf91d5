/** How many swaps `swapped_in` remembers. */
const MAX_SWAP_HISTORY = 100;

/** The checkpoints swapped in, newest last, with when (what `/v1/checkpoints` and the console show). */
export class SwapHistory {
  private readonly entries: { version: string; at: string }[] = [];

  record(version: string): void {
    this.entries.push({ version, at: new Date().toISOString() });
    if (this.entries.length > MAX_SWAP_HISTORY) this.entries.shift();
  }

  list(): { version: string; at: string }[] {
    return [...this.entries];
  }
}
