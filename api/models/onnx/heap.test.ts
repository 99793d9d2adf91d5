import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DECODE_NODE_FLAGS } from './heap.ts';

const root = new URL('../../../', import.meta.url);

describe('node flags for decoding', () => {
  it('are what the cir launcher and npm start give node (they cannot import them)', async () => {
    const shebang = (await readFile(new URL('bin/cir.mjs', root), 'utf8')).split('\n')[0]!;
    const start = JSON.parse(await readFile(new URL('package.json', root), 'utf8')).scripts.start as string;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${DECODE_NODE_FLAGS.join(' ')}`);
    expect(start).toBe(`node ${DECODE_NODE_FLAGS.join(' ')} bin/cir.mjs serve`);
  });
});
