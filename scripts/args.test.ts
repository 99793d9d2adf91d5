import { describe, expect, it } from 'vitest';
import { parseScriptArgs, type ScriptIO } from './args.ts';

const USAGE = 'usage: demo --out DIR [--count 10]';
const CONFIG = { options: { out: { type: 'string' }, count: { type: 'string', default: '10' }, lr: { type: 'string', default: '1e-3' } } } as const;

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function fakeIO(argv: string[]): ScriptIO & { out: string; err: string } {
  const io = {
    argv,
    out: '',
    err: '',
    stdout: { write: (t: string) => (io.out += t) },
    stderr: { write: (t: string) => (io.err += t) },
    exit: (code: number): never => {
      throw new Exit(code);
    },
  };
  return io;
}

function exitOf(run: () => unknown): number {
  try {
    run();
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
  throw new Error('did not exit');
}

describe('parseScriptArgs', () => {
  it('parses options and typed values', () => {
    const args = parseScriptArgs(USAGE, CONFIG, fakeIO(['--out', 'x', '--count', '3']));
    expect(args.values.out).toBe('x');
    expect(args.required('out')).toBe('x');
    expect(args.int('count', 1)).toBe(3);
    expect(args.number('lr', 0, true)).toBe(0.001);
  });

  it('prints the usage for --help and exits 0', () => {
    const io = fakeIO(['--help']);
    expect(exitOf(() => parseScriptArgs(USAGE, CONFIG, io))).toBe(0);
    expect(io.out).toBe(`${USAGE}\n`);
    expect(io.err).toBe('');
  });

  it('an unknown option: the reason and the usage on stderr, exit 2, no stack trace', () => {
    const io = fakeIO(['--oot', 'x']);
    expect(exitOf(() => parseScriptArgs(USAGE, CONFIG, io))).toBe(2);
    expect(io.err).toContain("Unknown option '--oot'");
    expect(io.err).toContain(USAGE);
    expect(io.err).not.toContain('    at ');
  });

  it('names the option that is missing or malformed', () => {
    const cases: [string[], (a: ReturnType<typeof parseScriptArgs<typeof CONFIG>>) => unknown, string][] = [
      [[], (a) => a.required('out'), '--out is required'],
      [['--count', '2.5'], (a) => a.int('count', 1), '--count must be an integer >= 1, got 2.5'],
      [['--count', '0'], (a) => a.int('count', 1), '--count must be an integer >= 1, got 0'],
      [['--lr', '0'], (a) => a.number('lr', 0, true), '--lr must be a number > 0, got 0'],
      [['--lr', 'fast'], (a) => a.number('lr', 0), '--lr must be a number >= 0, got fast'],
      [['--out', 'z'], (a) => a.oneOf('out', ['x', 'y']), '--out must be one of x, y, got z'],
    ];
    for (const [argv, read, message] of cases) {
      const io = fakeIO(argv);
      const args = parseScriptArgs(USAGE, CONFIG, io);
      expect(exitOf(() => read(args))).toBe(2);
      expect(io.err).toBe(`${message}\n${USAGE}\n`);
    }
  });
});
