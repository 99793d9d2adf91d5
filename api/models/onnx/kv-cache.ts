/**
 * KV-cache storage for the ONNX backend. The model returns `present.N.key/value` as
 * [batch, kv_heads, length, head_dim] float32 tensors; a KvBlock holds one such array per
 * layer and per key/value. A sequence's cache is a CacheView: a row of a block, a start offset
 * (left padding before it) and a length. Views are read-only and share their block, so a
 * prompt prefilled once serves n samples, and a batch's output becomes every row's cache
 * without copying. Copies happen only when rows are regrouped (gatherRows) or when a sequence
 * leaves a batch and keeps its cache (materialize).
 */

export interface KvGeometry {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
}

export interface KvBlock {
  readonly batch: number;
  readonly length: number;
  /** 2 * numLayers arrays: key 0, value 0, key 1, value 1, ... each [batch, kvHeads, length, headDim]. */
  readonly data: readonly Float32Array[];
}

export interface CacheView {
  readonly block: KvBlock;
  readonly row: number;
  /** First position of this sequence within the block's length (positions before it are padding). */
  readonly start: number;
  readonly length: number;
}

export function emptyBlock(geometry: KvGeometry, batch: number): KvBlock {
  return { batch, length: 0, data: Array.from({ length: 2 * geometry.numLayers }, () => new Float32Array(0)) };
}

/** Size in bytes of the positions a view covers (what it would cost once materialized). */
export function viewBytes(geometry: KvGeometry, view: CacheView): number {
  return 2 * geometry.numLayers * geometry.numKvHeads * view.length * geometry.headDim * 4;
}

/** Copies `view`'s positions into row `row` of `dst` (length dstLength), ending at the right edge. */
function copyRow(geometry: KvGeometry, view: CacheView, dst: readonly Float32Array[], row: number, dstLength: number): void {
  const { numKvHeads, headDim } = geometry;
  const span = view.length * headDim;
  const pad = dstLength - view.length;
  for (let a = 0; a < dst.length; a++) {
    const src = view.block.data[a]!;
    const out = dst[a]!;
    for (let h = 0; h < numKvHeads; h++) {
      const from = ((view.row * numKvHeads + h) * view.block.length + view.start) * headDim;
      const to = ((row * numKvHeads + h) * dstLength + pad) * headDim;
      out.set(src.subarray(from, from + span), to);
    }
  }
}

/**
 * Stacks sequences into one block, left-padded to the longest (null = empty cache). Returns the
 * block and each row's padding. A single view that already is a whole block is reused as is.
 */
export function gatherRows(geometry: KvGeometry, views: readonly (CacheView | null)[]): { block: KvBlock; padLeft: number[] } {
  const only = views.length === 1 ? views[0] : undefined;
  if (only && only.block.batch === 1 && only.start === 0 && only.length === only.block.length) {
    return { block: only.block, padLeft: [0] };
  }
  const length = Math.max(0, ...views.map((v) => v?.length ?? 0));
  const batch = views.length;
  const size = batch * geometry.numKvHeads * length * geometry.headDim;
  const data = Array.from({ length: 2 * geometry.numLayers }, () => new Float32Array(size));
  views.forEach((view, row) => {
    if (view && view.length > 0) copyRow(geometry, view, data, row, length);
  });
  return { block: { batch, length, data }, padLeft: views.map((v) => length - (v?.length ?? 0)) };
}

/** A view that owns a batch-1 block of exactly its positions (no padding, no other rows kept alive). */
export function materialize(geometry: KvGeometry, view: CacheView): CacheView {
  const { block } = gatherRows(geometry, [view]);
  return { block, row: 0, start: 0, length: view.length };
}
