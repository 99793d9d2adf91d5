import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../storage/atomic-file.ts';

/**
 * The trajectory logger's write-ahead log (Node): the records of the batch being filled, appended and
 * synced to a local file before accept() resolves, so a record accepted just before a SIGKILL is
 * not lost with the open batch. One segment file per open batch; the segment is discarded once its
 * batch is durable in the spool. At start-up the logger turns the segments a killed process left into
 * batches. Appends that arrive together share one write and one fdatasync (group commit).
 */
export interface WriteAheadLog {
  /** A segment for a batch being opened (the file is created on the first append). */
  segment(): WalSegment;
  /** Segments a previous process left, oldest first: their complete lines (a line cut by the kill is dropped). */
  recover(): Promise<{ name: string; lines: string[]; discard(): Promise<void> }[]>;
}

export interface WalSegment {
  /** Resolves once the lines are on disk. */
  append(lines: readonly string[]): Promise<void>;
  /** Waits for appends in flight, then closes and removes the file. */
  discard(): Promise<void>;
}

export class FsWriteAheadLog implements WriteAheadLog {
  private made = false;
  private counter = 0;

  constructor(readonly dir: string) {}

  segment(): WalSegment {
    // Time first, so that recovery replays segments in the order their batches were opened.
    const name = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${String(this.counter++).padStart(6, '0')}.wal`;
    return new FsWalSegment(join(this.dir, name), () => this.ensureDir());
  }

  async recover(): Promise<{ name: string; lines: string[]; discard(): Promise<void> }[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.wal')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return Promise.all(
      names.map(async (name) => {
        const path = join(this.dir, name);
        const text = await readFile(path, 'utf8');
        // Every append ends with '\n': text after the last one is a write the kill cut short.
        const lines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '');
        return { name, lines, discard: () => rm(path, { force: true }) };
      }),
    );
  }

  private async ensureDir(): Promise<void> {
    if (this.made) return;
    await mkdir(this.dir, { recursive: true });
    this.made = true;
  }
}

class FsWalSegment implements WalSegment {
  private handle: Promise<FileHandle> | null = null;
  private pending: { text: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly path: string,
    private readonly ensureDir: () => Promise<void>,
  ) {}

  append(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ text: `${lines.join('\n')}\n`, resolve, reject });
      this.kick();
    });
  }

  /** Starts a flush unless one is running; one that ends with appends pending (they came after its last round) starts the next. */
  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.pending.length > 0) this.kick();
    });
  }

  async discard(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (!this.handle) return;
    const handle = await this.handle.catch(() => null);
    await handle?.close();
    await rm(this.path, { force: true });
  }

  /** Writes everything pending in one write and one fdatasync; what arrives meanwhile goes in the next round. */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        const handle = await (this.handle ??= this.openFile());
        await handle.write(batch.map((p) => p.text).join(''));
        await handle.datasync();
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error as Error);
      }
    }
  }

  private async openFile(): Promise<FileHandle> {
    await this.ensureDir();
    const handle = await open(this.path, 'a');
    // The new file's name must survive a crash too.
    await fsyncDir(join(this.path, '..'));
    return handle;
  }
}
