/** How many swaps `swapped_in` remembers. */
const MAX_SWAP_HISTORY = 100;

/** The checkpoints swapped in: how many in all, and the latest ones with when (what `/v1/checkpoints` and the console show). */
export class SwapHistory {
  private readonly entries: { version: string; at: string }[] = [];
  private total = 0;

  record(version: string): void {
    this.total++;
    this.entries.push({ version, at: new Date().toISOString() });
    if (this.entries.length > MAX_SWAP_HISTORY) this.entries.shift();
  }

  /** Every swap since start, including those the list no longer holds. */
  get count(): number {
    return this.total;
  }

  list(): { version: string; at: string }[] {
    return [...this.entries];
  }
}
