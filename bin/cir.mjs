#!/usr/bin/env -S node --initial-old-space-size=128
// The `cir` executable: runs the TypeScript CLI through tsx's loader (no build step needed).
// The flag: see DECODE_NODE_FLAGS in api/models/onnx/heap.ts (a larger initial old space spares
// onnxruntime decoding a full garbage collection every few tokens).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
process.exit(code);
