import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../main.ts';

/**
 * `cir serve`'s command line (refused before anything starts). That `--port` is obeyed is shown by the
 * fault suite, which starts every server with `cir serve --port 0` and reads the port it prints.
 */
async function serve(argv: string[]) {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  const code = await main(['serve', ...argv], { stdin: Readable.from(['']), stdout: new PassThrough(), stderr });
  return { code, stderr: text };
}

describe('cir serve', () => {
  it.each([
    [['--prot', '9000'], /Unknown option '--prot'/],
    [['--port', 'abc'], /--port must be a whole number from 0 to 65535, got "abc"/],
    [['--port', '70000'], /--port must be at most 65535/],
    [['--port', '-1'], /Option '--port' argument is ambiguous|--port must be a whole number/],
    [['--host', ''], /--host must not be empty/],
    [['now'], /unexpected argument "now"/],
  ])('refuses %j with usage, exit code 2', async (argv, message) => {
    const { code, stderr } = await serve(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('usage: cir serve [--port N] [--host H]');
  });
});
