import { z } from 'zod';

/**
 * Client settings shared by the S3 and SQS drivers. Both talk to AWS or to an S3/SQS-compatible
 * endpoint (R2, MinIO, a local emulator), so both take the same endpoint/region/credential knobs.
 */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsClientOptions {
  region: string;
  /** A non-AWS endpoint (R2, MinIO, an emulator); AWS's own when absent. */
  endpoint?: string;
  /** Explicit credentials; when absent, the SDK's default chain (environment, profile, instance role). */
  credentials?: AwsCredentials;
}

/** Per-attempt deadlines, so that a hung endpoint counts as an outage instead of stalling delivery forever. */
const CONNECTION_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 30_000;

export function awsClientConfig(options: AwsClientOptions) {
  return {
    region: options.region,
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
  };
}

/** The usual AWS variables, read by both drivers' factories. */
export const AwsEnvFields = {
  AWS_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
};

type AwsEnv = { [K in keyof typeof AwsEnvFields]?: string };

/**
 * Explicit credentials when the given env has a key pair (so a caller's env object is honoured, not
 * only process.env); otherwise undefined, leaving the SDK's default chain (profile, instance role…).
 */
export function awsCredentialsFromEnv(env: AwsEnv): AwsCredentials | undefined {
  if (env.AWS_ACCESS_KEY_ID === undefined || env.AWS_SECRET_ACCESS_KEY === undefined) return undefined;
  return {
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
    ...(env.AWS_SESSION_TOKEN !== undefined && { sessionToken: env.AWS_SESSION_TOKEN }),
  };
}

/** Refinement shared by the factories: a key id without its secret (or the reverse) is a typo, not a choice. */
export function checkAwsKeyPair(env: AwsEnv, ctx: z.RefinementCtx): void {
  if ((env.AWS_ACCESS_KEY_ID === undefined) !== (env.AWS_SECRET_ACCESS_KEY === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [env.AWS_ACCESS_KEY_ID === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'],
      message: 'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (to use the default credential chain)',
    });
  }
}
