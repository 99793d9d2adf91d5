import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { createNodeSandbox } from './node-deps.ts';

/** `cir exec` starts only what its one snippet needs; the server starts everything configured. */
describe('createNodeSandbox', () => {
  const config = loadConfig({ CIR_PYTHON_EXECUTOR: 'bwrap', CIR_EXEC_CONCURRENCY: '2' });

  it('a one-shot JavaScript run starts QuickJS and no Python', async () => {
    const sandbox = await createNodeSandbox(config, { oneShot: 'javascript' });
    try {
      const described = sandbox.describe();
      expect(described.javascript).toMatchObject({ executor: 'quickjs' });
      expect(described.python).toEqual({ executor: null, reason: 'not started: this one-shot run is javascript, not python' });
    } finally {
      await sandbox.dispose();
    }
  });

  it('a one-shot Python run starts one plain sandbox, which runs sympy snippets too', async () => {
    const sandbox = await createNodeSandbox(config, { oneShot: 'python' });
    try {
      expect(sandbox.describe().javascript.executor).toBeNull();
      expect(sandbox.describe().python).toMatchObject({ executor: 'python-bwrap', containment: { preload: { status: 'off', modules: [], sandboxes: 0 } } });
      expect(await sandbox.execute({ language: 'python', code: 'print(6 * 7)' })).toMatchObject({ status: 'ok', stdout: '42\n' });
      expect(await sandbox.execute({ language: 'python', code: 'import sympy\nprint(sympy.factorint(360))' })).toMatchObject({ status: 'ok', stdout: '{2: 3, 3: 2, 5: 1}\n' });
    } finally {
      await sandbox.dispose();
    }
  });

  it('the server starts both languages with the configured concurrency and preloads', async () => {
    const sandbox = await createNodeSandbox(config, { shared: true });
    try {
      const described = sandbox.describe();
      expect(described.javascript).toMatchObject({ executor: 'quickjs', concurrency: 2 });
      expect(described.python).toMatchObject({ executor: 'python-bwrap', concurrency: 2, containment: { preload: { modules: ['sympy', 'numpy'], sandboxes: 2 } } });
    } finally {
      await sandbox.dispose();
    }
  });
});
