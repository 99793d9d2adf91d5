import { describe, expect, it } from 'vitest';
import { encodeRequest, FrameDecoder } from './protocol.ts';

function frame(kind: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(kind, 0, 'latin1');
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

function done(exitCode: number, signal: number, pid: number, report: string): Buffer {
  const head = Buffer.alloc(12);
  head.writeInt32BE(exitCode, 0);
  head.writeInt32BE(signal, 4);
  head.writeUInt32BE(pid, 8);
  return frame('D', Buffer.concat([head, Buffer.from(report)]));
}

describe('zygote protocol', () => {
  it('length-prefixes requests', () => {
    const bytes = encodeRequest({ code: 'print("é")', stdin: '', limits: { timeoutMs: 1, memoryMb: 2, maxProcesses: 3, maxOpenFiles: 4 } });
    expect(bytes.readUInt32BE(0)).toBe(bytes.length - 4);
    expect(JSON.parse(bytes.subarray(4).toString('utf8')).code).toBe('print("é")');
  });

  it('reassembles frames whatever the chunking', () => {
    const stream = Buffer.concat([
      frame('R', Buffer.from('{"python":"3.11.2","modules":{"sympy":true,"numpy":false}}')),
      frame('O', Buffer.from('héllo\n')),
      frame('E', Buffer.alloc(0)),
      done(0, 0, 7, '{"pid": 7, "kind": "ok", "error": null}\n'),
    ]);
    for (const size of [1, 3, 7, stream.length]) {
      const decoder = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < stream.length; i += size) frames.push(...decoder.push(stream.subarray(i, i + size)));
      expect(frames.map((f) => f.kind)).toEqual(['ready', 'stdout', 'stderr', 'done']);
      expect(Buffer.from((frames[1] as { data: Uint8Array }).data).toString()).toBe('héllo\n');
      expect(frames[3]).toEqual({ kind: 'done', info: { exitCode: 0, signal: null, outcome: { kind: 'ok', error: null } } });
    }
  });

  it("trusts only the child's own report line", () => {
    const report = [
      '{"pid": 99, "kind": "ok", "error": null}', // a fork of the snippet
      'garbage the snippet wrote',
      '{"pid": 7, "kind": "error", "error": "ValueError: x"}',
      '{"pid": 7, "kind": "bogus", "error": "x"}',
    ].join('\n');
    const [parsed] = new FrameDecoder().push(done(1, 0, 7, report));
    expect(parsed).toEqual({ kind: 'done', info: { exitCode: 1, signal: null, outcome: { kind: 'error', error: 'ValueError: x' } } });
  });

  it('reads a killed child as a signal with no exit code and no report', () => {
    const [parsed] = new FrameDecoder().push(done(-1, 9, 7, ''));
    expect(parsed).toEqual({ kind: 'done', info: { exitCode: null, signal: 9, outcome: null } });
  });

  it('rejects an unknown frame kind', () => {
    expect(() => new FrameDecoder().push(frame('X', Buffer.alloc(0)))).toThrow(/unknown frame kind/);
  });
});
