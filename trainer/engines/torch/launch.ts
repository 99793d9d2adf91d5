/**
 * Where and how the torch worker runs, decided before it is spawned: the device, the compute dtype and
 * the number of processes, checked against what the Python interpreter reports (probeTorchPython), so a
 * request the machine cannot honour fails with a sentence instead of a traceback minutes later.
 */
import { probeTorchPython, type TorchPythonInfo } from './python.ts';

export type TorchDevice = 'auto' | 'cpu' | 'cuda';
export type TorchDtype = 'fp32' | 'bf16';
/** With several processes: a full replica per process (ddp), or parameters, gradients and optimizer state sharded across them (fsdp). */
export type TorchStrategy = 'ddp' | 'fsdp';

export interface LaunchRequest {
  device?: TorchDevice;
  dtype?: TorchDtype;
  nproc?: number;
  strategy?: TorchStrategy;
}

export interface Launch {
  device: 'cpu' | 'cuda';
  dtype: TorchDtype;
  nproc: number;
  strategy: TorchStrategy;
}

/** Checks a launch request against the interpreter's torch; throws an Error that says what is wrong and what would work. */
export function resolveLaunch(request: LaunchRequest, info: TorchPythonInfo): Launch {
  const nproc = request.nproc ?? 1;
  if (!Number.isInteger(nproc) || nproc < 1) throw new RangeError(`nproc must be a positive integer, got ${nproc}`);
  const wanted = request.device ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(wanted)) throw new RangeError(`device must be auto, cpu or cuda, got "${wanted}"`);
  if (wanted === 'cuda' && info.cudaDevices === 0) throw new Error(`device cuda was asked for, but ${info.cudaReason ?? 'torch sees no GPU'} (${info.python})`);
  const device = wanted === 'auto' ? (info.cudaDevices > 0 ? 'cuda' : 'cpu') : wanted;
  if (device === 'cuda' && nproc > info.cudaDevices) {
    throw new Error(`nproc ${nproc} needs ${nproc} GPUs, but torch sees ${info.cudaDevices}: run at most ${info.cudaDevices} processes, or several on the CPU with device cpu`);
  }
  const dtype = request.dtype ?? 'fp32';
  if (dtype !== 'fp32' && dtype !== 'bf16') throw new RangeError(`dtype must be bf16 or fp32, got "${dtype}"`);
  if (dtype === 'bf16' && device !== 'cuda') throw new Error('dtype bf16 is autocast on CUDA, and this run is on the CPU: train in fp32 there');
  if (dtype === 'bf16' && !info.bf16) throw new Error('dtype bf16 was asked for, but this GPU has no bf16 support: use fp32');
  const strategy = request.strategy ?? 'ddp';
  if (strategy !== 'ddp' && strategy !== 'fsdp') throw new RangeError(`strategy must be ddp or fsdp, got "${strategy}"`);
  return { device, dtype, nproc, strategy };
}

const probes = new Map<string, Promise<TorchPythonInfo>>();

/** probeTorchPython, asked once per interpreter and process (importing torch and transformers takes seconds); failures are asked again. */
export function probeOnce(python: string): Promise<TorchPythonInfo> {
  let probe = probes.get(python);
  if (!probe) {
    probe = probeTorchPython(python);
    probes.set(python, probe);
    probe.catch(() => probes.delete(python));
  }
  return probe;
}
