import { join } from 'node:path';
import { z } from 'zod';
import { AwsEnvFields, awsCredentialsFromEnv, checkAwsKeyPair } from '../aws-client.ts';
import { parseEnv } from '../env.ts';
import { FsObjectStore } from './fs.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3.ts';

/** Storage settings (Node hosts; a Worker builds an R2ObjectStore from its binding instead). */
export const StorageEnvSchema = z
  .object({
    /** fs: files under CIR_STORAGE_DIR; s3: an S3 or S3-compatible bucket. */
    CIR_STORAGE: z.enum(['fs', 's3']).default('fs'),
    /** Directory for CIR_STORAGE=fs; default `<data dir>/objects`. */
    CIR_STORAGE_DIR: z.string().min(1).optional(),
    CIR_S3_BUCKET: z.string().min(3).max(63).optional(),
    /** A non-AWS endpoint: R2 (`https://<account>.r2.cloudflarestorage.com`), MinIO, a local server. */
    CIR_S3_ENDPOINT: z.url().optional(),
    /** Default AWS_REGION, else us-east-1 (R2 wants "auto"). */
    CIR_S3_REGION: z.string().min(1).optional(),
    /** Path-style requests; MinIO and most local servers need true. */
    CIR_S3_FORCE_PATH_STYLE: z.stringbool().default(false),
    ...AwsEnvFields,
  })
  .superRefine((env, ctx) => {
    if (env.CIR_STORAGE === 's3' && env.CIR_S3_BUCKET === undefined) {
      ctx.addIssue({ code: 'custom', path: ['CIR_S3_BUCKET'], message: 'required when CIR_STORAGE=s3' });
    }
    checkAwsKeyPair(env, ctx);
  });

/** The object store the environment asks for; throws ConfigError naming each bad variable. */
export function createStorageFromEnv(env: Record<string, string | undefined>, { dataDir }: { dataDir: string }): ObjectStore {
  const config = parseEnv(StorageEnvSchema, env);
  if (config.CIR_STORAGE === 'fs') return new FsObjectStore(config.CIR_STORAGE_DIR ?? join(dataDir, 'objects'));
  return new S3ObjectStore({
    bucket: config.CIR_S3_BUCKET!,
    region: config.CIR_S3_REGION ?? config.AWS_REGION ?? 'us-east-1',
    endpoint: config.CIR_S3_ENDPOINT,
    forcePathStyle: config.CIR_S3_FORCE_PATH_STYLE,
    credentials: awsCredentialsFromEnv(config),
  });
}
