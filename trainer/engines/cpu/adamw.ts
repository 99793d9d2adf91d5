/**
 * AdamW over the flat parameter buffer, as torch.optim.AdamW (decoupled weight decay, bias-corrected
 * moments), with torch's clip_grad_norm_ before the update.
 */
import type { OptimizerConfig } from '../types.ts';
import type { ParamLayout } from './params.ts';

export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Updates taken. */
  step = 0;
  /** 1 where weight decay applies. */
  private readonly decayMask: Uint8Array;

  constructor(
    readonly layout: ParamLayout,
    readonly config: OptimizerConfig,
  ) {
    this.m = new Float32Array(layout.size);
    this.v = new Float32Array(layout.size);
    this.decayMask = new Uint8Array(layout.size);
    for (const e of layout.entries) if (e.decay) this.decayMask.fill(1, e.offset, e.offset + e.size);
  }

  /** Clips `grads` in place to config.maxGradNorm; returns the norm before clipping. */
  clipGradients(grads: Float32Array): number {
    let ss = 0;
    for (let i = 0; i < grads.length; i++) ss += grads[i]! * grads[i]!;
    const norm = Math.sqrt(ss);
    const max = this.config.maxGradNorm;
    if (max !== null && norm > max) {
      const scale = max / (norm + 1e-6);
      for (let i = 0; i < grads.length; i++) grads[i]! *= scale;
    }
    return norm;
  }

  /** One update of `params` from `grads` (already clipped). */
  update(params: Float32Array, grads: Float32Array, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.step++;
    const bc1 = 1 - beta1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.step);
    const stepSize = lr / bc1;
    const decay = 1 - lr * weightDecay;
    const { m, v, decayMask } = this;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i]!;
      const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * g);
      const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * g * g);
      let p = params[i]!;
      if (decayMask[i]) p *= decay;
      params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
  }
}
