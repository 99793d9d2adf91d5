import { describe, expect, it } from 'vitest';
import { resolveLaunch } from './launch.ts';
import type { TorchPythonInfo } from './python.ts';

const cpuBuild: TorchPythonInfo = { python: 'py', torch: '2.13.0+cpu', transformers: '5.18.0', cudaDevices: 0, cudaReason: 'torch 2.13.0+cpu was built without CUDA', bf16: false };
const twoGpus: TorchPythonInfo = { python: 'py', torch: '2.13.0', transformers: '5.18.0', cudaDevices: 2, bf16: true };

describe('resolveLaunch', () => {
  it('auto picks CUDA when torch sees a GPU, else the CPU; fp32, one process and ddp by default', () => {
    expect(resolveLaunch({}, twoGpus)).toEqual({ device: 'cuda', dtype: 'fp32', nproc: 1, strategy: 'ddp' });
    expect(resolveLaunch({}, cpuBuild)).toEqual({ device: 'cpu', dtype: 'fp32', nproc: 1, strategy: 'ddp' });
    expect(resolveLaunch({ device: 'cuda', dtype: 'bf16', nproc: 2, strategy: 'fsdp' }, twoGpus)).toEqual({ device: 'cuda', dtype: 'bf16', nproc: 2, strategy: 'fsdp' });
    // Several gloo processes on the CPU are allowed (how DDP is tested without GPUs).
    expect(resolveLaunch({ device: 'cpu', nproc: 4 }, twoGpus)).toEqual({ device: 'cpu', dtype: 'fp32', nproc: 4, strategy: 'ddp' });
  });

  it('refuses what the machine cannot do, saying why', () => {
    expect(() => resolveLaunch({ device: 'cuda' }, cpuBuild)).toThrow('device cuda was asked for, but torch 2.13.0+cpu was built without CUDA (py)');
    expect(() => resolveLaunch({ nproc: 3 }, twoGpus)).toThrow('nproc 3 needs 3 GPUs, but torch sees 2');
    expect(() => resolveLaunch({ dtype: 'bf16' }, cpuBuild)).toThrow(/bf16 is autocast on CUDA/);
    expect(() => resolveLaunch({ dtype: 'bf16' }, { ...twoGpus, bf16: false })).toThrow(/no bf16 support/);
    expect(() => resolveLaunch({ nproc: 0 }, twoGpus)).toThrow(/nproc must be a positive integer/);
    expect(() => resolveLaunch({ device: 'tpu' as 'cpu' }, twoGpus)).toThrow(/device must be auto, cpu or cuda/);
    expect(() => resolveLaunch({ strategy: 'zero3' as 'ddp' }, twoGpus)).toThrow(/strategy must be ddp or fsdp/);
  });
});
