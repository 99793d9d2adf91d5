import { assertValidKey, type ObjectStore, type PutOptions } from './object-store.ts';

/**
 * The slice of the Workers R2 binding (`env.BUCKET`) this store uses, typed here so that core/ needs
 * no @cloudflare/workers-types. A real R2Bucket satisfies it structurally.
 */
export interface R2BucketLike {
  put(
    key: string,
    value: ArrayBuffer | ArrayBufferView,
    options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string>; sha256?: string },
  ): Promise<unknown>;
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  list(options?: { prefix?: string; cursor?: string }): Promise<
    { objects: { key: string }[] } & ({ truncated: true; cursor: string } | { truncated: false })
  >;
  delete(key: string): Promise<void>;
}

/** Objects in R2 through a Workers binding (no credentials: the binding is the authority). */
export class R2ObjectStore implements ObjectStore {
  constructor(private readonly bucket: R2BucketLike) {}

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    await this.bucket.put(key, bytes, {
      ...(options.contentType !== undefined && { httpMetadata: { contentType: options.contentType } }),
      // R2 verifies the upload against `sha256` and refuses a damaged one.
      ...(options.sha256 !== undefined && { sha256: options.sha256, customMetadata: { sha256: options.sha256 } }),
    });
  }

  async get(key: string): Promise<Uint8Array | null> {
    assertValidKey(key);
    const object = await this.bucket.get(key);
    return object ? new Uint8Array(await object.arrayBuffer()) : null;
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.bucket.list({ prefix, ...(cursor !== undefined && { cursor }) });
      for (const object of page.objects) keys.push(object.key);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor !== undefined);
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.bucket.delete(key);
  }
}
