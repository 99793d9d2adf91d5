import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../bytes.ts';
import { sha256File } from './files.ts';
import { FsObjectStore } from './fs.ts';
import { ChecksumMismatchError } from './object-store.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

describe('FsObjectStore', () => {
  let root: string;
  let store: FsObjectStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cir-fs-store-'));
    store = new FsObjectStore(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('puts, gets, lists by prefix and deletes', async () => {
    await store.put('trajectories/2025/01/31/a.jsonl.gz', bytes('a'));
    await store.put('trajectories/2025/02/01/b.jsonl.gz', bytes('b'));
    await store.put('other/c', bytes('c'));
    expect(text(await store.get('trajectories/2025/01/31/a.jsonl.gz'))).toBe('a');
    expect(await store.get('missing')).toBeNull();
    expect(await store.list('trajectories/2025/0')).toEqual([
      'trajectories/2025/01/31/a.jsonl.gz',
      'trajectories/2025/02/01/b.jsonl.gz',
    ]);
    expect(await store.list('')).toEqual(['other/c', 'trajectories/2025/01/31/a.jsonl.gz', 'trajectories/2025/02/01/b.jsonl.gz']);
    expect(await store.list('nothing/here')).toEqual([]);
    await store.delete('other/c');
    await store.delete('other/c'); // deleting twice is fine
    expect(await store.get('other/c')).toBeNull();
  });

  it('replaces atomically: a reader sees the old or the new object, and no temp files are left or listed', async () => {
    const key = 'k/object';
    const [oldText, newText] = ['old'.repeat(100_000), 'new'.repeat(100_000)];
    await store.put(key, bytes(oldText));
    const seen = new Set<string>();
    const writing = store.put(key, bytes(newText));
    for (let i = 0; i < 50; i++) {
      const read = text(await store.get(key));
      seen.add(read === oldText ? 'old' : read === newText ? 'new' : 'torn');
    }
    await writing;
    expect(seen.has('torn')).toBe(false);
    expect(text(await store.get(key))).toBe(newText);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    await writeFile(join(root, '.tmp', 'stray.tmp'), 'x'); // as a crash mid-write would leave
    expect(await store.list('')).toEqual([key]);
  });

  it('refuses bytes that do not match the given sha256, leaving the old object', async () => {
    await store.put('k', bytes('good'), { sha256: await sha256Hex(bytes('good')) });
    await expect(store.put('k', bytes('evil'), { sha256: await sha256Hex(bytes('good')) })).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(text(await store.get('k'))).toBe('good');
  });

  it('refuses keys that could escape the root', async () => {
    for (const key of ['../x', 'a/../../x', '/abs', 'a//b', '', '.tmp/x']) {
      await expect(store.put(key, bytes('x'))).rejects.toThrow(/invalid object key/);
    }
  });

  it('moves files in and out streamed (putFile/getFile), checking the sha256 and leaving no partial files', async () => {
    const source = join(root, 'weights.bin');
    await writeFile(source, 'w'.repeat(300_000));
    const sha256 = await sha256Hex(bytes('w'.repeat(300_000)));
    await store.putFile('checkpoints/v1/model.safetensors', source, { sha256 });
    await expect(store.putFile('checkpoints/v1/other', source, { sha256: await sha256Hex(bytes('x')) })).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(await store.list('checkpoints/')).toEqual(['checkpoints/v1/model.safetensors']);
    const out = join(root, 'out');
    await mkdir(out);
    expect(await store.getFile('checkpoints/v1/model.safetensors', join(out, 'a.bin'))).toBe(true);
    expect(await store.getFile('checkpoints/v1/missing', join(out, 'b.bin'))).toBe(false);
    expect(await readdir(out)).toEqual(['a.bin']);
    expect(await sha256File(join(out, 'a.bin'))).toBe(sha256);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });
});
