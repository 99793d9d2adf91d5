/**
 * Forward and backward passes of the Llama/Qwen2-style decoder that core/onnx/decoder.ts exports
 * (RMSNorm, RoPE rotate_half, grouped-query causal attention, SwiGLU MLP, tied or untied head), written
 * out by hand over flat Float32Arrays. Matrix products go through the Gemm kernel (products with a
 * weight through sessions that hold it as a constant, until the engine reports weightsChanged()),
 * attention and SwiGLU through their onnxruntime kernels; norms, RoPE and the output softmax are plain
 * loops. The backward pass is this architecture's derivative, not a general autograd: fewer
 * allocations and no graph bookkeeping, which matters at the sizes trained on a CPU.
 *
 * Sequences are packed without padding: a micro-batch is one T×hidden activation matrix, every linear
 * layer is one product over all T tokens; attention runs one sequence per call (attention.ts), positions
 * restarting at 0. Batching attention over the micro-batch instead meant right-padding to its longest
 * sequence, and at warm-start lengths (mean ~370, up to ~830 tokens) the padded L² work made whole
 * steps 1.3-2x slower than one call per sequence.
 * Only the rows whose next-token distribution is scored get the (vocab-sized) output head.
 */
import { headDim, ropeInvFreq, type DecoderConfig } from '../../../core/onnx/decoder.ts';
import type { AttentionKernel, AttentionSaved } from './attention.ts';
import type { Gemm } from './gemm.ts';
import type { SwigluKernel } from './swiglu.ts';
import type { ParamLayout } from './params.ts';

/** A micro-batch: sequences packed end to end, and the positions to score. */
export interface PackedBatch {
  /** Token ids of all sequences, concatenated. */
  ids: Int32Array;
  /** starts[s] is sequence s's first index in ids; starts[last] = ids.length. */
  starts: Int32Array;
  /** Indices into ids whose next-token distribution is scored (row r predicts targets[r]). */
  rows: Int32Array;
  targets: Int32Array;
  /** 1 / sampling temperature, per scored row. */
  invTemperature: Float32Array;
}

export interface ForwardOutput {
  /** log p(target) per scored row, under softmax(logits · invTemperature). */
  logprobs: Float32Array;
  /** Entropy of that distribution per scored row. */
  entropies: Float32Array;
  /** 1 where the target is the distribution's argmax. */
  argmaxHits: Uint8Array;
}

/** Attention inputs per sequence, [1, heads, L, D] each. */
type AttentionCache = (AttentionSaved & { L: number })[];

interface LayerCache {
  xIn: Float32Array;
  r1: Float32Array;
  n1: Float32Array;
  attention: AttentionCache;
  ctx: Float32Array;
  h1: Float32Array;
  r2: Float32Array;
  n2: Float32Array;
  /** gate and up projections per token: T × 2ff. */
  gu: Float32Array;
  /** silu(gate) · up and sigmoid(gate): T × ff each. */
  a: Float32Array;
  sig: Float32Array;
}

export interface ForwardCache {
  batch: PackedBatch;
  layers: LayerCache[];
  xFinal: Float32Array;
  rFinal: Float32Array;
  /** Final-norm rows that were scored: Ns × hidden. */
  nfRows: Float32Array;
  /** Scaled logits (logits · invTemperature) of the scored rows, Ns × vocab, their softmax and log-sum-exp. */
  z: Float32Array;
  probs: Float32Array;
  logZ: Float64Array;
  entropies: Float32Array;
}

function addInto(target: Float32Array, source: Float32Array): void {
  for (let i = 0; i < target.length; i++) target[i]! += source[i]!;
}

export class DecoderModel {
  readonly config: DecoderConfig;
  private readonly H: number;
  private readonly D: number;
  private readonly nH: number;
  private readonly nKv: number;
  private readonly qOut: number;
  private readonly kvOut: number;
  private readonly QKV: number;
  private readonly F: number;
  private readonly V: number;
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;

  constructor(
    private readonly layout: ParamLayout,
    private readonly gemm: Gemm,
    private readonly attention: AttentionKernel,
    private readonly swiglu: SwigluKernel,
  ) {
    const c = layout.config;
    this.config = c;
    this.H = c.hiddenSize;
    this.D = headDim(c);
    this.nH = c.numAttentionHeads;
    this.nKv = c.numKeyValueHeads;
    this.qOut = this.nH * this.D;
    this.kvOut = this.nKv * this.D;
    this.QKV = this.qOut + 2 * this.kvOut;
    this.F = c.intermediateSize;
    this.V = c.vocabSize;
    // RoPE tables as the ONNX graph computes them: float32 position × float32 inverse frequency.
    const half = this.D / 2;
    this.cos = new Float32Array(c.maxPositionEmbeddings * half);
    this.sin = new Float32Array(c.maxPositionEmbeddings * half);
    const invFreqs = ropeInvFreq(c);
    for (let i = 0; i < half; i++) {
      const invFreq = invFreqs[i]!;
      for (let p = 0; p < c.maxPositionEmbeddings; p++) {
        const f = Math.fround(p * invFreq);
        this.cos[p * half + i] = Math.cos(f);
        this.sin[p * half + i] = Math.sin(f);
      }
    }
  }

  private w(params: Float32Array, name: string, length?: number): Float32Array {
    return this.layout.view(params, name, length);
  }

  private headName(): string {
    return this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  }

  /**
   * Runs the decoder; with `keep`, returns what backward needs. The Gemm kernel caches weight
   * sessions by parameter name: after `params` change, call its weightsChanged() before the next pass.
   */
  async forward(params: Float32Array, batch: PackedBatch, keep: true): Promise<ForwardOutput & { cache: ForwardCache }>;
  async forward(params: Float32Array, batch: PackedBatch, keep: false): Promise<ForwardOutput>;
  async forward(params: Float32Array, batch: PackedBatch, keep: boolean): Promise<ForwardOutput & { cache?: ForwardCache }> {
    const { H, QKV, F, V } = this;
    const T = batch.ids.length;
    for (let s = 0; s + 1 < batch.starts.length; s++) {
      const length = batch.starts[s + 1]! - batch.starts[s]!;
      if (length > this.config.maxPositionEmbeddings) throw new RangeError(`sequence of ${length} tokens exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    }
    const embed = this.w(params, 'model.embed_tokens.weight');
    let x: Float32Array = new Float32Array(T * H);
    for (let t = 0; t < T; t++) {
      const id = batch.ids[t]!;
      if (!(id >= 0 && id < V)) throw new RangeError(`token id ${id} outside the vocabulary (0..${V - 1})`);
      x.set(embed.subarray(id * H, (id + 1) * H), t * H);
    }
    const layers: LayerCache[] = [];
    for (let l = 0; l < this.config.numHiddenLayers; l++) {
      const p = `model.layers.${l}`;
      const xIn = x;
      const { y: n1, r: r1 } = this.rmsNorm(xIn, this.w(params, `${p}.input_layernorm.weight`), T);
      const qkv = await this.gemm.timesWeightT(`${p}.qkv`, this.w(params, `${p}.self_attn.q_proj.weight`, QKV * H), QKV, H, n1, T);
      if (this.config.attentionBias) {
        const bias = this.w(params, `${p}.self_attn.q_proj.bias`, QKV);
        for (let t = 0; t < T; t++) for (let j = 0; j < QKV; j++) qkv[t * QKV + j]! += bias[j]!;
      }
      this.rope(qkv, batch.starts, 1);
      const { ctx, saved: attention } = await this.attentionForward(qkv, batch.starts, T);
      const o = await this.gemm.timesWeightT(`${p}.o`, this.w(params, `${p}.self_attn.o_proj.weight`), H, this.qOut, ctx, T);
      const h1 = o;
      addInto(h1, xIn);
      const { y: n2, r: r2 } = this.rmsNorm(h1, this.w(params, `${p}.post_attention_layernorm.weight`), T);
      const gu = await this.gemm.timesWeightT(`${p}.gate_up`, this.w(params, `${p}.mlp.gate_proj.weight`, 2 * F * H), 2 * F, H, n2, T);
      const { a, sig } = await this.swiglu.forward(gu, T);
      const d = await this.gemm.timesWeightT(`${p}.down`, this.w(params, `${p}.mlp.down_proj.weight`), H, F, a, T);
      addInto(d, h1);
      x = d;
      if (keep) layers.push({ xIn, r1, n1, attention, ctx, h1, r2, n2, gu, a, sig });
    }
    const { y: nf, r: rFinal } = this.rmsNorm(x, this.w(params, 'model.norm.weight'), T);
    const Ns = batch.rows.length;
    const nfRows = new Float32Array(Ns * H);
    for (let r = 0; r < Ns; r++) nfRows.set(nf.subarray(batch.rows[r]! * H, (batch.rows[r]! + 1) * H), r * H);
    const z = await this.gemm.timesWeightT('head', this.w(params, this.headName()), V, H, nfRows, Ns);

    const logprobs = new Float32Array(Ns);
    const entropies = new Float32Array(Ns);
    const argmaxHits = new Uint8Array(Ns);
    const logZ = new Float64Array(Ns);
    // Softmax probabilities, kept for the backward pass (which would otherwise recompute every exp).
    const probs = keep ? new Float32Array(Ns * V) : null;
    for (let r = 0; r < Ns; r++) {
      const row = z.subarray(r * V, (r + 1) * V);
      const scale = batch.invTemperature[r]!;
      let max = -Infinity;
      for (let j = 0; j < V; j++) {
        const v = (row[j] = row[j]! * scale);
        if (v > max) max = v;
      }
      let sum = 0;
      let weighted = 0;
      for (let j = 0; j < V; j++) {
        const e = Math.exp(row[j]! - max);
        sum += e;
        weighted += e * row[j]!;
        if (probs) probs[r * V + j] = e;
      }
      if (probs) for (let j = r * V; j < (r + 1) * V; j++) probs[j]! /= sum;
      const lz = max + Math.log(sum);
      logZ[r] = lz;
      const target = batch.targets[r]!;
      if (!(target >= 0 && target < V)) throw new RangeError(`target id ${target} outside the vocabulary (0..${V - 1})`);
      logprobs[r] = row[target]! - lz;
      entropies[r] = lz - weighted / sum;
      argmaxHits[r] = row[target]! === max ? 1 : 0;
    }
    const out: ForwardOutput & { cache?: ForwardCache } = { logprobs, entropies, argmaxHits };
    if (probs) out.cache = { batch, layers, xFinal: x, rFinal, nfRows, z, probs, logZ, entropies };
    return out;
  }

  /**
   * Accumulates into `grads` (same layout as params) the gradient of Σ_r gradLogprobs[r]·logprob_r +
   * gradEntropies[r]·entropy_r.
   */
  async backward(params: Float32Array, grads: Float32Array, cache: ForwardCache, gradLogprobs: Float32Array, gradEntropies: Float32Array): Promise<void> {
    const { H, QKV, F, V } = this;
    const { batch } = cache;
    const T = batch.ids.length;
    const Ns = batch.rows.length;

    // d/dz of logp[target] and of the entropy, then through z = logits · invTemperature.
    const dLogits = new Float32Array(Ns * V);
    for (let r = 0; r < Ns; r++) {
      const gl = gradLogprobs[r]!;
      const ge = gradEntropies[r]!;
      if (gl === 0 && ge === 0) continue;
      const lz = cache.logZ[r]!;
      const entropy = cache.entropies[r]!;
      const scale = batch.invTemperature[r]!;
      const base = r * V;
      for (let j = 0; j < V; j++) {
        const pj = cache.probs[base + j]!;
        dLogits[base + j] = (-gl * pj - ge * pj * (cache.z[base + j]! - lz + entropy)) * scale;
      }
      dLogits[base + batch.targets[r]!]! += gl * scale;
    }
    const head = this.headName();
    addInto(this.w(grads, head), await this.gemm.mul(dLogits, cache.nfRows, V, Ns, H, true, false));
    const dnfRows = await this.gemm.timesWeight('head', this.w(params, head), V, H, dLogits, Ns);
    const dnf = new Float32Array(T * H);
    for (let r = 0; r < Ns; r++) {
      const t = batch.rows[r]!;
      for (let i = 0; i < H; i++) dnf[t * H + i]! += dnfRows[r * H + i]!;
    }
    let dx = this.rmsNormBackward(cache.xFinal, cache.rFinal, this.w(params, 'model.norm.weight'), dnf, this.w(grads, 'model.norm.weight'), T);

    for (let l = this.config.numHiddenLayers - 1; l >= 0; l--) {
      const p = `model.layers.${l}`;
      const c = cache.layers[l]!;
      // x = h1 + down(swiglu(gate, up))
      addInto(this.w(grads, `${p}.mlp.down_proj.weight`), await this.gemm.mul(dx, c.a, H, T, F, true, false));
      const da = await this.gemm.timesWeight(`${p}.down`, this.w(params, `${p}.mlp.down_proj.weight`), H, F, dx, T);
      const dgu = await this.swiglu.backward(c.gu, c.sig, da, T);
      addInto(this.w(grads, `${p}.mlp.gate_proj.weight`, 2 * F * H), await this.gemm.mul(dgu, c.n2, 2 * F, T, H, true, false));
      const dn2 = await this.gemm.timesWeight(`${p}.gate_up`, this.w(params, `${p}.mlp.gate_proj.weight`, 2 * F * H), 2 * F, H, dgu, T);
      const dh1 = this.rmsNormBackward(c.h1, c.r2, this.w(params, `${p}.post_attention_layernorm.weight`), dn2, this.w(grads, `${p}.post_attention_layernorm.weight`), T);
      addInto(dh1, dx);
      // h1 = xIn + o_proj(ctx)
      addInto(this.w(grads, `${p}.self_attn.o_proj.weight`), await this.gemm.mul(dh1, c.ctx, H, T, this.qOut, true, false));
      const dctx = await this.gemm.timesWeight(`${p}.o`, this.w(params, `${p}.self_attn.o_proj.weight`), H, this.qOut, dh1, T);
      const dqkv = await this.attentionBackward(c.attention, dctx, batch.starts, T);
      this.rope(dqkv, batch.starts, -1);
      if (this.config.attentionBias) {
        const gb = this.w(grads, `${p}.self_attn.q_proj.bias`, QKV);
        for (let t = 0; t < T; t++) for (let j = 0; j < QKV; j++) gb[j]! += dqkv[t * QKV + j]!;
      }
      addInto(this.w(grads, `${p}.self_attn.q_proj.weight`, QKV * H), await this.gemm.mul(dqkv, c.n1, QKV, T, H, true, false));
      const dn1 = await this.gemm.timesWeight(`${p}.qkv`, this.w(params, `${p}.self_attn.q_proj.weight`, QKV * H), QKV, H, dqkv, T);
      const dxIn = this.rmsNormBackward(c.xIn, c.r1, this.w(params, `${p}.input_layernorm.weight`), dn1, this.w(grads, `${p}.input_layernorm.weight`), T);
      addInto(dxIn, dh1);
      dx = dxIn;
    }
    const gEmbed = this.w(grads, 'model.embed_tokens.weight');
    for (let t = 0; t < T; t++) {
      const base = batch.ids[t]! * H;
      for (let i = 0; i < H; i++) gEmbed[base + i]! += dx[t * H + i]!;
    }
  }

  /** y = x / sqrt(mean(x²) + eps) · w per row; r = the per-row 1/sqrt(...). */
  private rmsNorm(x: Float32Array, w: Float32Array, T: number): { y: Float32Array; r: Float32Array } {
    const H = this.H;
    const y = new Float32Array(T * H);
    const r = new Float32Array(T);
    for (let t = 0; t < T; t++) {
      let ss = 0;
      for (let i = 0; i < H; i++) ss += x[t * H + i]! ** 2;
      const rt = 1 / Math.sqrt(ss / H + this.config.rmsNormEps);
      r[t] = rt;
      for (let i = 0; i < H; i++) y[t * H + i] = x[t * H + i]! * rt * w[i]!;
    }
    return { y, r };
  }

  /** dx of RMSNorm; accumulates dw. dx_i = r w_i dy_i - x_i r³/H Σ_k dy_k w_k x_k. */
  private rmsNormBackward(x: Float32Array, r: Float32Array, w: Float32Array, dy: Float32Array, dw: Float32Array, T: number): Float32Array {
    const H = this.H;
    const dx = new Float32Array(T * H);
    for (let t = 0; t < T; t++) {
      const rt = r[t]!;
      let dot = 0;
      for (let i = 0; i < H; i++) {
        const k = t * H + i;
        dot += dy[k]! * w[i]! * x[k]!;
        dw[i]! += dy[k]! * x[k]! * rt;
      }
      const coef = (rt * rt * rt * dot) / H;
      for (let i = 0; i < H; i++) {
        const k = t * H + i;
        dx[k] = rt * w[i]! * dy[k]! - x[k]! * coef;
      }
    }
    return dx;
  }

  /**
   * Rotates q and k heads in place (HF rotate_half) by +angle (`direction` 1, the forward) or
   * -angle (-1: the transpose, applied to gradients), and scales q by 1/sqrt(head_dim). Scaling
   * commutes with the rotation, so the same pass serves both directions.
   */
  private rope(qkv: Float32Array, starts: Int32Array, direction: 1 | -1): void {
    const { D, QKV } = this;
    const half = D / 2;
    const heads = this.nH + this.nKv;
    const scale = 1 / Math.sqrt(D);
    for (let s = 0; s + 1 < starts.length; s++) {
      for (let t = starts[s]!; t < starts[s + 1]!; t++) {
        const pos = t - starts[s]!;
        for (let h = 0; h < heads; h++) {
          const base = t * QKV + h * D;
          const f = h < this.nH ? scale : 1;
          for (let i = 0; i < half; i++) {
            const c = this.cos[pos * half + i]!;
            const sn = direction * this.sin[pos * half + i]!;
            const x1 = qkv[base + i]!;
            const x2 = qkv[base + half + i]!;
            qkv[base + i] = (x1 * c - x2 * sn) * f;
            qkv[base + half + i] = (x2 * c + x1 * sn) * f;
          }
        }
      }
    }
  }

  /**
   * Copies one sequence's q (and, per query head, its KV head's k and v), rows start..end of the
   * packed T × (q + 2kv) matrix, into [1, heads, L, D] tensors.
   */
  private toHeads(qkv: Float32Array, start: number, end: number): { q: Float32Array; k: Float32Array; v: Float32Array; L: number } {
    const { D, QKV, qOut, kvOut, nH } = this;
    const nRep = nH / this.nKv;
    const L = end - start;
    const size = nH * L * D;
    const q = new Float32Array(size);
    const k = new Float32Array(size);
    const v = new Float32Array(size);
    for (let t = start; t < end; t++) {
      const pos = t - start;
      const row = t * QKV;
      for (let h = 0; h < nH; h++) {
        const dst = (h * L + pos) * D;
        const kv = Math.floor(h / nRep) * D;
        const qAt = row + h * D;
        const kAt = row + qOut + kv;
        const vAt = kAt + kvOut;
        for (let d = 0; d < D; d++) {
          q[dst + d] = qkv[qAt + d]!;
          k[dst + d] = qkv[kAt + d]!;
          v[dst + d] = qkv[vAt + d]!;
        }
      }
    }
    return { q, k, v, L };
  }

  /** One sequence's [1, heads, L, D] → its rows start.. of `out` (T × heads·D): the inverse of toHeads' layout for q. */
  private fromHeads(x: Float32Array, start: number, L: number, out: Float32Array): void {
    const { D, nH, qOut } = this;
    for (let pos = 0; pos < L; pos++) {
      for (let h = 0; h < nH; h++) out.set(x.subarray((h * L + pos) * D, (h * L + pos + 1) * D), (start + pos) * qOut + h * D);
    }
  }

  /** Packs one sequence's context gradient (rows start..start+L) like toHeads packs q. */
  private gradToHeads(dctx: Float32Array, start: number, L: number): Float32Array {
    const { D, nH, qOut } = this;
    const out = new Float32Array(nH * L * D);
    for (let pos = 0; pos < L; pos++) {
      for (let h = 0; h < nH; h++) out.set(dctx.subarray((start + pos) * qOut + h * D, (start + pos) * qOut + (h + 1) * D), (h * L + pos) * D);
    }
    return out;
  }

  /** Causal attention over the packed sequences, one call each: the context rows (T × q) and what backward needs. */
  private async attentionForward(qkv: Float32Array, starts: Int32Array, T: number): Promise<{ ctx: Float32Array; saved: AttentionCache }> {
    const ctx = new Float32Array(T * this.qOut);
    const saved: AttentionCache = [];
    for (let s = 0; s + 1 < starts.length; s++) {
      const { q, k, v, L } = this.toHeads(qkv, starts[s]!, starts[s + 1]!);
      const out = await this.attention.forward(q, k, v, 1, this.nH, L, this.D);
      this.fromHeads(out.ctx, starts[s]!, L, ctx);
      saved.push({ ...out.saved, L });
    }
    return { ctx, saved };
  }

  /** Gradients of q (scaled, roped), k (roped) and v, as one T × (q + 2kv) matrix; repeated KV heads are summed. */
  private async attentionBackward(saved: AttentionCache, dctx: Float32Array, starts: Int32Array, T: number): Promise<Float32Array> {
    const { D, QKV, qOut, kvOut, nH } = this;
    const nRep = nH / this.nKv;
    const dqkv = new Float32Array(T * QKV);
    for (let s = 0; s + 1 < starts.length; s++) {
      const { L } = saved[s]!;
      const { dq, dk, dv } = await this.attention.backward(saved[s]!, this.gradToHeads(dctx, starts[s]!, L), 1, nH, L, D);
      for (let t = starts[s]!; t < starts[s + 1]!; t++) {
        const pos = t - starts[s]!;
        const row = t * QKV;
        for (let h = 0; h < nH; h++) {
          const src = (h * L + pos) * D;
          const kv = Math.floor(h / nRep) * D;
          for (let d = 0; d < D; d++) {
            dqkv[row + h * D + d] = dq[src + d]!;
            dqkv[row + qOut + kv + d]! += dk[src + d]!;
            dqkv[row + qOut + kvOut + kv + d]! += dv[src + d]!;
          }
        }
      }
    }
    return dqkv;
  }
}
