import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { awsClientConfig, type AwsClientOptions } from '../aws-client.ts';
import { replaceFileAtomic } from './atomic-file.ts';
import { readExactly } from './files.ts';
import { assertValidKey, type ObjectStore, type PutOptions } from './object-store.ts';

export interface S3StoreOptions extends AwsClientOptions {
  bucket: string;
  /** Path-style URLs (`endpoint/bucket/key`), which MinIO and most local servers need. */
  forcePathStyle?: boolean;
  /**
   * putFile sends files larger than this as a multipart upload of parts this size (default 64 MiB: S3's
   * 10,000-part limit then allows 640 GB; parts must be at least 5 MiB except the last).
   */
  partBytes?: number;
}

const DEFAULT_PART_BYTES = 64 * 1024 * 1024;

/** Objects in an S3 bucket, or any S3-compatible one (R2 through its S3 API, MinIO). */
export class S3ObjectStore implements ObjectStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly partBytes: number;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
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

  /**
   * One PutObject for a file up to partBytes, else a multipart upload reading one part at a time (memory:
   * one part). The object appears only when the upload completes; a failed one is aborted. The whole
   * file's sha256 goes in metadata (S3 checksums of multipart objects are per part; readers verify).
   */
  async putFile(key: string, path: string, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      const readPart = (offset: number, length: number) => readExactly(file, length, offset, path);
      if (size <= this.partBytes) {
        await this.put(key, await readPart(0, size), options);
        return;
      }
      const metadata = options.sha256 !== undefined ? { Metadata: { sha256: options.sha256 } } : {};
      const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: options.contentType, ...metadata }));
      try {
        const parts: { ETag: string | undefined; PartNumber: number }[] = [];
        for (let offset = 0, number = 1; offset < size; offset += this.partBytes, number++) {
          const body = await readPart(offset, Math.min(this.partBytes, size - offset));
          const { ETag } = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId, PartNumber: number, Body: body }));
          parts.push({ ETag, PartNumber: number });
        }
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
      } catch (error) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId })).catch(() => {});
        throw error;
      }
    } finally {
      await file.close();
    }
  }

  /** Streams the object into `path` (through a temp file beside it, renamed when complete). */
  async getFile(key: string, path: string): Promise<boolean> {
    assertValidKey(key);
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return false;
      throw error;
    }
    await replaceFileAtomic(path, dirname(path), (tmp) => pipeline(response.Body as Readable, createWriteStream(tmp)));
    return true;
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
