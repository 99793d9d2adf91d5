/**
 * All weights of a decoder in one flat Float32Array, each HF-named tensor a view into it. One flat
 * buffer makes the optimizer, gradient clipping and state files single loops; the order is chosen so
 * that tensors used together are contiguous: q/k/v projections form one [q+2kv, hidden] matrix (and
 * their biases one vector), gate/up one [2·ff, hidden] matrix, each a single matrix product.
 */
import { decoderWeightShapes, headDim, type DecoderConfig } from '../../../core/onnx/decoder.ts';
import { Rng } from '../../../api/models/generation/rng.ts';

export interface ParamEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** AdamW weight decay applies (matrices; not norms or biases). */
  decay: boolean;
}

export class ParamLayout {
  readonly entries: ParamEntry[] = [];
  readonly byName = new Map<string, ParamEntry>();
  readonly size: number;

  constructor(readonly config: DecoderConfig) {
    if (config.qkNorm || config.outputBias) {
      throw new Error(`the cpu engine trains Llama and Qwen2 decoders without q/k norms or an o_proj bias; this ${config.modelType} model needs the torch engine (--engine torch)`);
    }
    const shapes = decoderWeightShapes(config);
    const order: string[] = ['model.embed_tokens.weight'];
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const p = `model.layers.${i}`;
      order.push(`${p}.input_layernorm.weight`, `${p}.self_attn.q_proj.weight`, `${p}.self_attn.k_proj.weight`, `${p}.self_attn.v_proj.weight`);
      if (config.attentionBias) order.push(`${p}.self_attn.q_proj.bias`, `${p}.self_attn.k_proj.bias`, `${p}.self_attn.v_proj.bias`);
      order.push(`${p}.self_attn.o_proj.weight`, `${p}.post_attention_layernorm.weight`, `${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`, `${p}.mlp.down_proj.weight`);
    }
    order.push('model.norm.weight');
    if (!config.tieWordEmbeddings) order.push('lm_head.weight');
    if (order.length !== Object.keys(shapes).length) throw new Error('parameter layout does not cover decoderWeightShapes');
    let offset = 0;
    for (const name of order) {
      const shape = shapes[name]!;
      const size = shape.reduce((a, b) => a * b, 1);
      const entry = { name, shape, offset, size, decay: shape.length > 1 && !name.endsWith('norm.weight') };
      this.entries.push(entry);
      this.byName.set(name, entry);
      offset += size;
    }
    this.size = offset;
  }

  entry(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`no parameter ${name}`);
    return e;
  }

  /** The view of `name` in `flat`; with `length`, that many values starting there (consecutive tensors). */
  view(flat: Float32Array, name: string, length?: number): Float32Array {
    const e = this.entry(name);
    return flat.subarray(e.offset, e.offset + (length ?? e.size));
  }

  /** HF-named views of every tensor (for export: no copies). */
  named(flat: Float32Array): Record<string, Float32Array> {
    return Object.fromEntries(this.entries.map((e) => [e.name, flat.subarray(e.offset, e.offset + e.size)]));
  }

  /** A flat buffer filled from HF-named weights. */
  pack(weights: Readonly<Record<string, Float32Array>>): Float32Array {
    const flat = new Float32Array(this.size);
    for (const e of this.entries) {
      const w = weights[e.name];
      if (!w || w.length !== e.size) throw new Error(`weight ${e.name}: expected ${e.size} values, got ${w?.length ?? 'none'}`);
      flat.set(w, e.offset);
    }
    return flat;
  }

  /** Random init like scripts/make-model.ts: norms 1, everything else N(0, std). */
  random(seed: number, std: number): Float32Array {
    const rng = new Rng(seed);
    const flat = new Float32Array(this.size);
    for (const e of this.entries) {
      const v = flat.subarray(e.offset, e.offset + e.size);
      if (e.name.endsWith('norm.weight')) v.fill(1);
      else for (let i = 0; i < v.length; i++) v[i] = rng.nextNormal() * std;
    }
    return flat;
  }

  /** A fingerprint of the architecture, stored with optimizer state so a mismatch is caught on load. */
  signature(): string {
    return `${this.config.modelType}:h${this.config.hiddenSize}:ff${this.config.intermediateSize}:l${this.config.numHiddenLayers}:` +
      `q${this.config.numAttentionHeads}:kv${this.config.numKeyValueHeads}:d${headDim(this.config)}:v${this.config.vocabSize}:` +
      `tie${this.config.tieWordEmbeddings ? 1 : 0}:b${this.config.attentionBias ? 1 : 0}:n${this.size}`;
  }
}
