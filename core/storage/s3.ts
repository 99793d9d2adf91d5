import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { awsClientConfig, type AwsClientOptions } from '../aws-client.ts';
import { assertValidKey, type ObjectStore, type PutOptions } from './object-store.ts';

export interface S3StoreOptions extends AwsClientOptions {
  bucket: string;
  /** Path-style URLs (`endpoint/bucket/key`), which MinIO and most local servers need. */
  forcePathStyle?: boolean;
}

/** Objects in an S3 bucket, or any S3-compatible one (R2 through its S3 API, MinIO). */
export class S3ObjectStore implements ObjectStore {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.client = new S3Client({ ...awsClientConfig(options), forcePathStyle: options.forcePathStyle ?? false });
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentType: options.contentType,
        ...(options.sha256 !== undefined && {
          Metadata: { sha256: options.sha256 },
          // The server verifies the upload against it and refuses a damaged one.
          ChecksumSHA256: hexToBase64(options.sha256),
        }),
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | null> {
    assertValidKey(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}
