/**
 * A small assembler for classic BPF as seccomp uses it: loads of `struct seccomp_data` words,
 * conditional jumps on a constant to labels, and returns. Output is the kernel's
 * `struct sock_filter[]` (u16 code, u8 jt, u8 jf, u32 k), little-endian like every architecture
 * policy.ts knows: what `bwrap --seccomp FD` reads and `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)` takes.
 */

/** Offsets in `struct seccomp_data` (linux/seccomp.h). */
export const SECCOMP_DATA = { nr: 0, arch: 4 } as const;

/** Filter return values (linux/seccomp.h); SECCOMP_RET_ERRNO carries the errno in its low 16 bits. */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x8000_0000,
  ERRNO: 0x0005_0000,
  ALLOW: 0x7fff_0000,
} as const;

// Opcodes (linux/bpf_common.h): class | size | mode, class | op | source.
const BPF_LD_W_ABS = 0x00 | 0x00 | 0x20;
const BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00;
const BPF_JMP_JGE_K = 0x05 | 0x30 | 0x00;
const BPF_RET_K = 0x06 | 0x00;

/** Where a conditional jump goes: a label, or on to the next instruction (null). */
type Target = string | null;

export type Instruction =
  | { op: 'load'; offset: number }
  | { op: 'jeq' | 'jge'; k: number; ifTrue: Target; ifFalse: Target }
  | { op: 'ret'; k: number }
  | { op: 'label'; name: string };

export const load = (offset: number): Instruction => ({ op: 'load', offset });
export const jeq = (k: number, ifTrue: Target, ifFalse: Target = null): Instruction => ({ op: 'jeq', k, ifTrue, ifFalse });
export const jge = (k: number, ifTrue: Target, ifFalse: Target = null): Instruction => ({ op: 'jge', k, ifTrue, ifFalse });
export const ret = (k: number): Instruction => ({ op: 'ret', k });
export const label = (name: string): Instruction => ({ op: 'label', name });

/** Bytes of one `struct sock_filter`. */
export const INSTRUCTION_BYTES = 8;
/** The kernel's BPF_MAXINSNS. */
const MAX_INSTRUCTIONS = 4096;
/** Conditional jumps are forward only and their offsets are one byte. */
const MAX_JUMP = 255;

export function assemble(program: readonly Instruction[]): Buffer {
  const labels = new Map<string, number>();
  const code: Exclude<Instruction, { op: 'label' }>[] = [];
  for (const insn of program) {
    if (insn.op !== 'label') code.push(insn);
    else if (labels.has(insn.name)) throw new Error(`BPF label "${insn.name}" is defined twice`);
    else labels.set(insn.name, code.length);
  }
  if (code.length === 0 || code.length > MAX_INSTRUCTIONS) throw new Error(`a BPF program has 1 to ${MAX_INSTRUCTIONS} instructions (got ${code.length})`);
  if (code.at(-1)!.op !== 'ret') throw new Error('a BPF program must end with a return');

  const out = Buffer.alloc(code.length * INSTRUCTION_BYTES);
  code.forEach((insn, index) => {
    const at = index * INSTRUCTION_BYTES;
    const write = (opcode: number, jt: number, jf: number, k: number) => {
      out.writeUInt16LE(opcode, at);
      out.writeUInt8(jt, at + 2);
      out.writeUInt8(jf, at + 3);
      out.writeUInt32LE(k >>> 0, at + 4);
    };
    const offset = (target: Target): number => {
      if (target === null) return 0;
      const destination = labels.get(target);
      if (destination === undefined) throw new Error(`BPF label "${target}" is not defined`);
      const distance = destination - (index + 1);
      if (distance < 0 || distance > MAX_JUMP) throw new Error(`BPF jump to "${target}" is ${distance} instructions; it must be 0 to ${MAX_JUMP} forward`);
      return distance;
    };
    switch (insn.op) {
      case 'load':
        write(BPF_LD_W_ABS, 0, 0, insn.offset);
        break;
      case 'jeq':
      case 'jge':
        write(insn.op === 'jeq' ? BPF_JMP_JEQ_K : BPF_JMP_JGE_K, offset(insn.ifTrue), offset(insn.ifFalse), insn.k);
        break;
      case 'ret':
        write(BPF_RET_K, 0, 0, insn.k);
        break;
    }
  });
  return out;
}
