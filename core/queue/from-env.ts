import { join } from 'node:path';
import { z } from 'zod';
import { AwsEnvFields, awsCredentialsFromEnv, checkAwsKeyPair } from '../aws-client.ts';
import { parseEnv } from '../env.ts';
import { CloudflareHttpQueue } from './cloudflare-http.ts';
import { LocalQueue } from './local.ts';
import type { Queue } from './queue.ts';
import { SqsQueue } from './sqs.ts';

/** Queue settings (Node hosts; a Worker builds a CloudflareQueueProducer from its binding instead). */
export const QueueEnvSchema = z
  .object({
    /**
     * local: a durable queue in CIR_QUEUE_DIR (one machine); sqs: CIR_SQS_QUEUE_URL; cloudflare: a
     * Cloudflare Queue through the REST API (how the trainer pulls what a Worker's logger sent).
     */
    CIR_QUEUE: z.enum(['local', 'sqs', 'cloudflare']).default('local'),
    /** Directory for CIR_QUEUE=local; default `<data dir>/queue`. */
    CIR_QUEUE_DIR: z.string().min(1).optional(),
    CIR_SQS_QUEUE_URL: z.url().optional(),
    /** A non-AWS endpoint (an SQS-compatible server). */
    CIR_SQS_ENDPOINT: z.url().optional(),
    /** Default AWS_REGION, else us-east-1. */
    CIR_SQS_REGION: z.string().min(1).optional(),
    CIR_CF_ACCOUNT_ID: z.string().min(1).optional(),
    CIR_CF_QUEUE_ID: z.string().min(1).optional(),
    /** Token with Queues Edit permission. */
    CIR_CF_API_TOKEN: z.string().min(1).optional(),
    ...AwsEnvFields,
  })
  .superRefine((env, ctx) => {
    if (env.CIR_QUEUE === 'sqs' && env.CIR_SQS_QUEUE_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['CIR_SQS_QUEUE_URL'], message: 'required when CIR_QUEUE=sqs' });
    }
    if (env.CIR_QUEUE === 'cloudflare') {
      for (const name of ['CIR_CF_ACCOUNT_ID', 'CIR_CF_QUEUE_ID', 'CIR_CF_API_TOKEN'] as const) {
        if (env[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'required when CIR_QUEUE=cloudflare' });
      }
    }
    checkAwsKeyPair(env, ctx);
  });

/** The queue the environment asks for; throws ConfigError naming each bad variable. */
export function createQueueFromEnv(env: Record<string, string | undefined>, { dataDir }: { dataDir: string }): Queue {
  const config = parseEnv(QueueEnvSchema, env);
  if (config.CIR_QUEUE === 'local') return new LocalQueue(config.CIR_QUEUE_DIR ?? join(dataDir, 'queue'));
  if (config.CIR_QUEUE === 'cloudflare') {
    return new CloudflareHttpQueue({
      accountId: config.CIR_CF_ACCOUNT_ID!,
      queueId: config.CIR_CF_QUEUE_ID!,
      apiToken: config.CIR_CF_API_TOKEN!,
    });
  }
  return new SqsQueue({
    queueUrl: config.CIR_SQS_QUEUE_URL!,
    region: config.CIR_SQS_REGION ?? config.AWS_REGION ?? 'us-east-1',
    endpoint: config.CIR_SQS_ENDPOINT,
    credentials: awsCredentialsFromEnv(config),
  });
}
