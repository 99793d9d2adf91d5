/**
 * A page's polling loop: `step` runs, then again after the delay (ms) it returns, until the page is
 * left (dispose). A step in flight when the page goes finishes, and no other is scheduled after it.
 */
export interface Poller {
  start(): void;
  dispose(): void;
}

export function poller(step: () => Promise<number>): Poller {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const tick = async () => {
    const delayMs = await step();
    if (!stopped) timer = setTimeout(() => void tick(), delayMs);
  };
  return {
    start: () => void tick(),
    dispose() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
