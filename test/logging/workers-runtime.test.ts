import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The Worker path of the logging layer in workerd itself (through Miniflare, with an R2 bucket it
 * simulates locally): the logger, the R2 store and the reader must run on Web APIs alone.
 */
describe('logging layer on the Workers runtime', () => {
  let mf: Miniflare;

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [join(dirname(fileURLToPath(import.meta.url)), 'worker-fixture.ts')],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      write: false,
    });
    // cf: false — use Miniflare's placeholder request.cf instead of fetching one from the internet.
    mf = new Miniflare({ modules: true, script: bundle.outputFiles[0]!.text, r2Buckets: ['BUCKET'], compatibilityDate: '2025-01-01', cf: false });
  });

  afterAll(async () => {
    await mf?.dispose();
  });

  it('batches into R2 with checksums, announces on the queue binding, and reads everything back', async () => {
    const response = await mf.dispatchFetch('http://localhost/');
    expect(response.status).toBe(200);
    const result = (await response.json()) as {
      accepted: string[];
      readBack: string[];
      objects: string[];
      stats: Record<string, number>;
      refusedDamaged: boolean;
    };
    expect(result.readBack).toEqual(result.accepted);
    expect(result.objects).toHaveLength(3);
    expect(result.stats).toMatchObject({ accepted: 5, stored: 5, queued: 5 });
    expect(result.refusedDamaged).toBe(true); // R2 checks the sha256 given with a put
  });

  it('loses nothing accepted when R2 and the queue fail mid-request: retried until delivered, each failure reported', async () => {
    const response = await mf.dispatchFetch('http://localhost/outage');
    const result = (await response.json()) as { accepted: string[]; readBack: string[]; stats: Record<string, number>; reported: string[] };
    expect(result.readBack.sort()).toEqual(result.accepted.sort());
    expect(result.stats).toMatchObject({ accepted: 3, stored: 3, queued: 3, retries: 4 });
    expect(result.reported.join('\n')).toMatch(/R2 unavailable[\s\S]*Queues unavailable/);
  });
});
