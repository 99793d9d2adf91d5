/** Engine kinds by name (`cir train --engine`), each a CreateEngine. */
import type { CreateEngine } from './types.ts';

export const ENGINE_KINDS = ['cpu', 'torch'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

/** The engine factory of a kind; engines load lazily so a cpu run never loads the torch driver and vice versa. */
export function engineFactory(kind: EngineKind): CreateEngine {
  switch (kind) {
    case 'cpu':
      return async (init, options) => (await import('./cpu/engine.ts')).CpuEngine.create(init, options);
    case 'torch':
      return async (init, options) => (await import('./torch/engine.ts')).TorchEngine.create(init, options);
  }
}
