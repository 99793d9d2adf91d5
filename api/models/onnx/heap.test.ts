import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DECODE_NODE_FLAGS } from './heap.ts';

const root = new URL('../../../', import.meta.url);

describe('node flags for decoding', () => {
  it('are what the cir launcher, npm start and npm run bench give node (they cannot import them)', async () => {
    const shebang = (await readFile(new URL('bin/cir.mjs', root), 'utf8')).split('\n')[0]!;
    const { scripts } = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
    const flags = DECODE_NODE_FLAGS.join(' ');
    expect(shebang).toBe(`#!/usr/bin/env -S node ${flags}`);
    expect(scripts.start).toBe(`node ${flags} bin/cir.mjs serve`);
    expect(scripts.bench).toBe(`node ${flags} --import tsx bench/index.ts`);
  });
});
