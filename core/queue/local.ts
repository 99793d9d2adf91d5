import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../storage/atomic-file.ts';
import { LeaseLostError, type Queue, type ReceivedMessage, type ReceiveOptions } from './queue.ts';

/** How often a long-polling receive() looks again. */
const POLL_MS = 50;

/**
 * A durable queue in a directory, for one machine (the default when no SQS is configured); any number
 * of processes may produce and consume.
 *
 *   ready/<id>                                   a message waiting; ids sort by send time
 *   inflight/<id>.<count>.<leaseUntilMs>.<token>  a message handed out until leaseUntilMs
 *
 * Sending is an atomic, fsynced write into ready/. Receiving claims a message by renaming it into
 * inflight/ under a fresh token: rename is atomic, so of two consumers racing for one message exactly
 * one wins. A lease that has expired is reclaimed the same way (renamed to a new token), which is the
 * redelivery. A receipt is `<id>.<token>`; once the message was reclaimed, the old receipt matches no
 * file, so a slow consumer can neither delete nor extend a delivery that is no longer its own.
 */
export class LocalQueue implements Queue {
  private readonly readyDir: string;
  private readonly inflightDir: string;
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.readyDir = join(root, 'ready');
    this.inflightDir = join(root, 'inflight');
    this.tmpDir = join(root, '.tmp');
  }

  async send(body: string): Promise<void> {
    // Zero-padded milliseconds first, so lexicographic order is send order (roughly FIFO across processes).
    const id = `${Date.now().toString().padStart(15, '0')}-${randomUUID()}`;
    await writeFileAtomic(join(this.readyDir, id), new TextEncoder().encode(body), this.tmpDir);
  }

  async receive({ max, visibilityTimeoutS, waitS = 0 }: ReceiveOptions): Promise<ReceivedMessage[]> {
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      const claimed = await this.claim(max, visibilityTimeoutS);
      if (claimed.length > 0 || Date.now() >= deadline) return claimed;
      await sleep(Math.min(POLL_MS, deadline - Date.now()));
    }
  }

  async delete(receipt: string): Promise<void> {
    const name = await this.findInflight(receipt);
    if (name !== null) await rm(join(this.inflightDir, name), { force: true });
  }

  async extendVisibility(receipt: string, visibilityTimeoutS: number): Promise<void> {
    const name = await this.findInflight(receipt);
    const lease = name === null ? null : parseLease(name);
    if (name === null || lease === null) throw new LeaseLostError(receipt);
    const renewed = leaseName(lease.id, lease.count, Date.now() + visibilityTimeoutS * 1000, lease.token);
    if (!(await renameIfPresent(join(this.inflightDir, name), join(this.inflightDir, renewed)))) {
      throw new LeaseLostError(receipt);
    }
  }

  /** Claims up to `max` messages: expired leases first (they are the oldest), then ready ones in id order. */
  private async claim(max: number, visibilityTimeoutS: number): Promise<ReceivedMessage[]> {
    // A missing target directory would make rename() fail with ENOENT, which reads as "lost the race".
    await mkdir(this.inflightDir, { recursive: true });
    const now = Date.now();
    const leaseUntil = now + visibilityTimeoutS * 1000;
    const claimed: { id: string; count: number; token: string; path: string }[] = [];

    const expired = (await listDir(this.inflightDir))
      .map((name) => ({ name, lease: parseLease(name) }))
      .filter((e): e is { name: string; lease: Lease } => e.lease !== null && e.lease.leaseUntil <= now)
      .sort((a, b) => (a.lease.id < b.lease.id ? -1 : 1));
    for (const { name, lease } of expired) {
      if (claimed.length >= max) break;
      const token = randomUUID();
      const path = join(this.inflightDir, leaseName(lease.id, lease.count + 1, leaseUntil, token));
      if (await renameIfPresent(join(this.inflightDir, name), path)) claimed.push({ id: lease.id, count: lease.count + 1, token, path });
    }

    if (claimed.length < max) {
      for (const id of (await listDir(this.readyDir)).sort()) {
        if (claimed.length >= max) break;
        const token = randomUUID();
        const path = join(this.inflightDir, leaseName(id, 1, leaseUntil, token));
        if (await renameIfPresent(join(this.readyDir, id), path)) claimed.push({ id, count: 1, token, path });
      }
    }

    const messages: ReceivedMessage[] = [];
    for (const c of claimed) {
      const body = await readFile(c.path, 'utf8').catch((error: unknown) => {
        // Only a zero-length lease lets another consumer take it back this fast; it is theirs now.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      });
      if (body !== null) messages.push({ id: c.id, body, receipt: `${c.id}.${c.token}`, receiveCount: c.count });
    }
    return messages;
  }

  private async findInflight(receipt: string): Promise<string | null> {
    const dot = receipt.indexOf('.');
    if (dot < 0) return null;
    const id = receipt.slice(0, dot);
    const token = receipt.slice(dot + 1);
    const name = (await listDir(this.inflightDir)).find((n) => {
      const lease = parseLease(n);
      return lease !== null && lease.id === id && lease.token === token;
    });
    return name ?? null;
  }
}

interface Lease {
  id: string;
  count: number;
  leaseUntil: number;
  token: string;
}

function leaseName(id: string, count: number, leaseUntil: number, token: string): string {
  return `${id}.${count}.${leaseUntil}.${token}`;
}

function parseLease(name: string): Lease | null {
  const parts = name.split('.');
  if (parts.length !== 4) return null;
  const [id, count, leaseUntil, token] = parts as [string, string, string, string];
  const lease = { id, count: Number(count), leaseUntil: Number(leaseUntil), token };
  return Number.isFinite(lease.count) && Number.isFinite(lease.leaseUntil) ? lease : null;
}

/** Atomic rename; false when the source is gone (another consumer got there first). */
async function renameIfPresent(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
