import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { consoleAssetsSource, GENERATED } from '../../console/build.ts';
import { jsSandbox } from '../../test/eval/fixtures.ts';
import { createApp } from '../app.ts';
import { loadConfig } from '../config.ts';

describe('the web console assets', () => {
  it('are the current build of console/ (run npm run build:console after changing it)', async () => {
    expect(await readFile(GENERATED, 'utf8')).toBe(await consoleAssetsSource());
  });

  it('are served at / without a key, same-origin only, while /v1 still needs one', async () => {
    const sandbox = jsSandbox();
    try {
      const app = createApp({ config: loadConfig({ CIR_API_KEYS: 'k1' }), sandbox, runtime: 'workerd' });
      const page = await app.request('/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
      expect(await page.text()).toContain('/console/app.js');
      const script = await app.request('/console/app.js');
      expect(script.headers.get('content-type')).toMatch(/javascript/);
      expect((await script.text()).length).toBeGreaterThan(10_000);
      expect((await app.request('/console/app.css')).status).toBe(200);
      expect((await app.request('/v1/info')).status).toBe(401);
    } finally {
      await sandbox.dispose();
    }
  });
});
