import { describe, expect, it } from 'vitest';
import { assemble, INSTRUCTION_BYTES, jeq, jge, label, load, ret, SECCOMP_RET } from './bpf.ts';
import { denyFilter, SANDBOX_DENIED, seccompArchitecture, SNIPPET_DENIED } from './policy.ts';
import { ARCHITECTURES, SYSCALLS, type Architecture } from './syscalls.ts';

/**
 * Runs a classic BPF seccomp program the way the kernel does (the subset the assembler emits:
 * absolute word loads, jeq/jge on a constant, return a constant), independently of the assembler.
 */
function runFilter(program: Buffer, data: { nr: number; arch: number }): number {
  const words = new Map([[0, data.nr >>> 0], [4, data.arch >>> 0]]);
  let accumulator = 0;
  for (let pc = 0; pc * INSTRUCTION_BYTES < program.length; pc++) {
    const at = pc * INSTRUCTION_BYTES;
    const code = program.readUInt16LE(at);
    const jt = program.readUInt8(at + 2);
    const jf = program.readUInt8(at + 3);
    const k = program.readUInt32LE(at + 4);
    switch (code) {
      case 0x20:
        if (!words.has(k)) throw new Error(`load of an unexpected offset ${k}`);
        accumulator = words.get(k)!;
        break;
      case 0x15:
        pc += accumulator === k ? jt : jf;
        break;
      case 0x35:
        pc += accumulator >= k ? jt : jf;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const AUDIT_ARCH: Record<Architecture, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
const AUDIT_ARCH_I386 = 0x40000003;
const DENY = SECCOMP_RET.ERRNO | 1;

/** System calls a Python snippet makes all the time (x86_64 and generic numbers). */
const EVERYDAY: Record<Architecture, Record<string, number>> = {
  x86_64: { read: 0, write: 1, mmap: 9, brk: 12, openat: 257, clone: 56, clone3: 435, execve: 59, exit_group: 231, pipe2: 293, prctl: 157 },
  aarch64: { read: 63, write: 64, mmap: 222, brk: 214, openat: 56, clone: 220, clone3: 435, execve: 221, exit_group: 94, pipe2: 59, prctl: 167 },
};

describe('BPF assembler', () => {
  it('encodes sock_filter entries with forward jump offsets resolved from labels', () => {
    const program = assemble([load(4), jeq(7, null, 'no'), jge(3, 'yes', 'no'), label('yes'), ret(1), label('no'), ret(2)]);
    expect(program.length).toBe(5 * INSTRUCTION_BYTES);
    // jeq 7: true falls through (0), false skips to "no" (index 4, from index 1: 2 ahead)
    expect([...program.subarray(8, 16)]).toEqual([0x15, 0, 0, 2, 7, 0, 0, 0]);
    expect(runFilter(program, { nr: 5, arch: 7 })).toBe(1);
    expect(runFilter(program, { nr: 5, arch: 8 })).toBe(2);
  });

  it('refuses programs the kernel would reject', () => {
    expect(() => assemble([load(0)])).toThrow(/end with a return/);
    expect(() => assemble([label('a'), jeq(1, 'a'), ret(0)])).toThrow(/forward/);
    expect(() => assemble([jeq(1, 'nowhere'), ret(0)])).toThrow(/not defined/);
    const far = [jeq(1, 'end'), ...Array.from({ length: 256 }, () => ret(0)), label('end'), ret(1)];
    expect(() => assemble(far)).toThrow(/256 instructions/);
  });
});

describe('seccomp policy', () => {
  it.each(ARCHITECTURES)('on %s, fails every denied call with EPERM and allows what Python uses', (arch) => {
    const sandbox = denyFilter(arch, SANDBOX_DENIED);
    const snippet = denyFilter(arch, SNIPPET_DENIED);
    const numberOf = (name: keyof typeof SYSCALLS) => (SYSCALLS[name] as Partial<Record<Architecture, number>>)[arch];
    for (const name of SANDBOX_DENIED) {
      const nr = numberOf(name);
      if (nr !== undefined) expect([name, runFilter(sandbox, { nr, arch: AUDIT_ARCH[arch] })]).toEqual([name, DENY]);
    }
    for (const name of SNIPPET_DENIED) {
      const nr = numberOf(name)!;
      expect([name, runFilter(snippet, { nr, arch: AUDIT_ARCH[arch] })]).toEqual([name, DENY]);
      // the zygote's children make these calls before the snippet filter exists
      expect([name, runFilter(sandbox, { nr, arch: AUDIT_ARCH[arch] })]).toEqual([name, SECCOMP_RET.ALLOW]);
    }
    for (const [name, nr] of Object.entries(EVERYDAY[arch])) {
      for (const filter of [sandbox, snippet]) expect([name, runFilter(filter, { nr, arch: AUDIT_ARCH[arch] })]).toEqual([name, SECCOMP_RET.ALLOW]);
    }
  });

  it('kills calls made through another ABI, so no denied call has a second number', () => {
    const filter = denyFilter('x86_64', SANDBOX_DENIED);
    expect(runFilter(filter, { nr: 1, arch: AUDIT_ARCH_I386 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(runFilter(filter, { nr: 0x40000000 | 1, arch: AUDIT_ARCH.x86_64 })).toBe(SECCOMP_RET.KILL_PROCESS); // x32 write
    expect(runFilter(denyFilter('aarch64', SANDBOX_DENIED), { nr: 64, arch: AUDIT_ARCH.x86_64 })).toBe(SECCOMP_RET.KILL_PROCESS);
  });

  it("maps Node's architectures", () => {
    expect([seccompArchitecture('x64'), seccompArchitecture('arm64'), seccompArchitecture('riscv64')]).toEqual(['x86_64', 'aarch64', null]);
  });
});
