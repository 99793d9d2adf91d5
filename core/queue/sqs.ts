import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { awsClientConfig, type AwsClientOptions } from '../aws-client.ts';
import type { Queue, ReceivedMessage, ReceiveOptions } from './queue.ts';

export interface SqsQueueOptions extends AwsClientOptions {
  queueUrl: string;
}

/** SQS limits: 10 messages per receive, 20 s of long polling. */
const SQS_MAX_MESSAGES = 10;
const SQS_MAX_WAIT_S = 20;

/** An SQS queue (or an SQS-compatible one) through @aws-sdk/client-sqs. */
export class SqsQueue implements Queue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;

  constructor(options: SqsQueueOptions) {
    this.queueUrl = options.queueUrl;
    this.client = new SQSClient(awsClientConfig(options));
  }

  async send(body: string): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }

  async receive({ max, visibilityTimeoutS, waitS = 0 }: ReceiveOptions): Promise<ReceivedMessage[]> {
    const response = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(Math.max(1, max), SQS_MAX_MESSAGES),
        VisibilityTimeout: Math.ceil(visibilityTimeoutS),
        WaitTimeSeconds: Math.min(Math.ceil(waitS), SQS_MAX_WAIT_S),
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return (response.Messages ?? []).flatMap((m) =>
      m.MessageId !== undefined && m.ReceiptHandle !== undefined
        ? [
            {
              id: m.MessageId,
              body: m.Body ?? '',
              receipt: m.ReceiptHandle,
              receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
            },
          ]
        : [],
    );
  }

  async delete(receipt: string): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt }));
  }

  async extendVisibility(receipt: string, visibilityTimeoutS: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receipt,
        VisibilityTimeout: Math.ceil(visibilityTimeoutS),
      }),
    );
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
