import { describe, expect, it } from 'vitest';
import { trainerEnv } from '../../trainer/run/env.ts';
import { trainUsage } from '../../cli/commands/train.ts';
import { containerEnvNames, knownEnvNames, read, readCloudFormation, sourceFiles } from './definitions.ts';

/**
 * infra/aws/cir.yaml, checked offline: every reference resolves, the IAM policies allow exactly the S3 and
 * SQS calls the code makes on the keys it uses, and the Batch job runs `cir train` with settings it reads.
 */

const TEMPLATE = 'infra/aws/cir.yaml';
const template = readCloudFormation(TEMPLATE);
const resources = template.Resources;
const parameters = template.Parameters;
const PSEUDO = ['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::StackName', 'AWS::StackId', 'AWS::URLSuffix', 'AWS::NoValue'];

/** Every intrinsic function call in a value: [function, argument]. */
function* intrinsics(value: unknown): Generator<[string, any]> {
  if (Array.isArray(value)) for (const item of value) yield* intrinsics(item);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' || key.startsWith('Fn::')) yield [key, inner];
      yield* intrinsics(inner);
    }
  }
}

/** The names a Fn::Sub string interpolates (`${Name}` and `${Resource.Attribute}`; `${!Literal}` is not one). */
const subNames = (text: string): string[] => [...text.matchAll(/\$\{([^!}][^}]*)\}/g)].map((m) => m[1]!);

describe('CloudFormation template', () => {
  it('references only parameters, resources and pseudo parameters that exist', () => {
    const problems: string[] = [];
    const known = (name: string) => name in parameters || name in resources || PSEUDO.includes(name);
    for (const [name, resource] of Object.entries<any>(resources)) {
      expect(resource.Type, name).toMatch(/^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/);
      for (const dependency of [resource.DependsOn ?? []].flat()) if (!(dependency in resources)) problems.push(`${name}: DependsOn ${dependency}`);
    }
    for (const [fn, argument] of intrinsics({ Resources: resources, Outputs: template.Outputs })) {
      if (fn === 'Ref' && !known(argument)) problems.push(`Ref ${argument}`);
      if (fn === 'Fn::GetAtt' && !(argument[0] in resources)) problems.push(`GetAtt ${argument.join('.')}`);
      if (fn === 'Fn::Sub') {
        const text = typeof argument === 'string' ? argument : argument[0];
        const variables = typeof argument === 'string' ? {} : argument[1];
        for (const name of subNames(text)) {
          const [head = '', attribute] = name.split('.');
          if (name in variables) continue;
          if (attribute !== undefined ? !(head in resources) && !PSEUDO.includes(name) : !known(name)) problems.push(`Sub \${${name}}`);
        }
      }
    }
    expect(problems).toEqual([]);
    // Each output is one of those references too, and says something.
    expect(Object.keys(template.Outputs)).toEqual(expect.arrayContaining(['BucketName', 'QueueUrl', 'DeadLetterQueueUrl', 'ApiPolicyArn', 'TrainerPolicyArn', 'TrainerJobDefinitionArn', 'TrainerJobQueueArn']));
  });

  it('has a dead-letter queue behind the trajectory queue, past the trainer’s own set-aside limit', () => {
    const queue = resources.TrajectoryQueue.Properties;
    expect(queue.RedrivePolicy.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': ['TrajectoryDeadLetterQueue', 'Arn'] });
    expect(resources.TrajectoryDeadLetterQueue.Type).toBe('AWS::SQS::Queue');
    // trainer/consumer/consumer.ts sets a message aside itself after maxReceives (5) deliveries.
    const maxReceives = Number(/maxReceives: (\d+)/.exec(read('trainer/consumer/consumer.ts'))![1]);
    expect(queue.RedrivePolicy.maxReceiveCount).toBeGreaterThan(maxReceives);
    const leaseS = Number(/visibilityTimeoutS: (\d+)/.exec(read('trainer/consumer/consumer.ts'))![1]);
    expect(queue.VisibilityTimeout).toBe(leaseS);
  });

  it('uses the checkpoint prefix and the trajectory prefix the code uses', () => {
    expect(parameters.CheckpointPrefix.Default).toBe(trainerEnv({}).CIR_CHECKPOINTS);
    expect(/const KEY_PREFIX = '([^']+)'/.exec(read('core/logging/trajectory-logger.ts'))![1]).toBe('trajectories');
  });
});

/**
 * What each side calls, read from the code: the Queue methods the trainer and the API's logger call map to
 * SQS actions through core/queue/sqs.ts, and the store methods to S3 actions through core/storage/s3.ts.
 */
const S3_ACTION: Record<string, string> = {
  PutObjectCommand: 's3:PutObject',
  CreateMultipartUploadCommand: 's3:PutObject',
  UploadPartCommand: 's3:PutObject',
  CompleteMultipartUploadCommand: 's3:PutObject',
  AbortMultipartUploadCommand: 's3:AbortMultipartUpload',
  GetObjectCommand: 's3:GetObject',
  ListObjectsV2Command: 's3:ListBucket',
  DeleteObjectCommand: 's3:DeleteObject',
};
const SQS_ACTION: Record<string, string> = {
  SendMessageCommand: 'sqs:SendMessage',
  ReceiveMessageCommand: 'sqs:ReceiveMessage',
  DeleteMessageCommand: 'sqs:DeleteMessage',
  ChangeMessageVisibilityCommand: 'sqs:ChangeMessageVisibility',
};
const QUEUE_METHOD_ACTION: Record<string, string> = {
  send: 'sqs:SendMessage',
  receive: 'sqs:ReceiveMessage',
  delete: 'sqs:DeleteMessage',
  extendVisibility: 'sqs:ChangeMessageVisibility',
};

/** The Queue methods called in these files (`queue.receive(`, `this.options.queue.delete(`, ...). */
function queueActions(files: string[]): Set<string> {
  const actions = new Set<string>();
  for (const file of files) {
    for (const match of read(file).matchAll(/\bqueue\.(send|receive|delete|extendVisibility)\(/g)) actions.add(QUEUE_METHOD_ACTION[match[1]!]!);
  }
  return actions;
}

/** Policy statements as { actions, resource } with the bucket and queue written symbolically. */
function statements(policy: string): { actions: string[]; resource: string }[] {
  return resources[policy].Properties.PolicyDocument.Statement.map((s: any) => {
    expect(s.Effect).toBe('Allow');
    const r = s.Resource;
    const resource = r['Fn::Sub'] ?? (r['Fn::GetAtt'] ? `${r['Fn::GetAtt'].join('.')}` : JSON.stringify(r));
    return { actions: [s.Action].flat().sort(), resource };
  });
}

describe('least-privilege IAM', () => {
  it('covers every SDK call of the S3 and SQS drivers (a new call needs a mapping here and maybe a policy change)', () => {
    const commands = (file: string) => [...read(file).matchAll(/new (\w+Command)\(/g)].map((m) => m[1]!);
    for (const command of commands('core/storage/s3.ts')) expect(S3_ACTION, `core/storage/s3.ts calls ${command}`).toHaveProperty(command);
    for (const command of commands('core/queue/sqs.ts')) expect(SQS_ACTION, `core/queue/sqs.ts calls ${command}`).toHaveProperty(command);
  });

  it('lets the API put trajectory batches, announce them, browse them, and read checkpoints: nothing else', () => {
    // The API's side of the queue is the trajectory logger's.
    expect([...queueActions(sourceFiles('core/logging', 'api'))]).toEqual(['sqs:SendMessage']);
    expect(statements('ApiPolicy')).toEqual([
      { actions: ['s3:GetObject', 's3:PutObject'], resource: '${DataBucket.Arn}/trajectories/*' },
      { actions: ['s3:GetObject'], resource: '${DataBucket.Arn}/${CheckpointPrefix}/*' },
      { actions: ['s3:ListBucket'], resource: 'DataBucket.Arn' },
      { actions: ['sqs:SendMessage'], resource: 'TrajectoryQueue.Arn' },
    ]);
  });

  it('lets the trainer read trajectories, consume messages, and read and publish checkpoints: nothing else', () => {
    const trainerQueue = queueActions(sourceFiles('trainer'));
    expect([...trainerQueue].sort()).toEqual(['sqs:DeleteMessage', 'sqs:ReceiveMessage']);
    // Publishing streams large files as multipart uploads and aborts a failed one (core/storage/s3.ts putFile).
    expect(read('trainer/publish/publish.ts')).toContain('putFileInStore(');
    expect(read('core/storage/files.ts')).toContain('store.putFile(');
    expect(statements('TrainerPolicy')).toEqual([
      { actions: ['s3:GetObject'], resource: '${DataBucket.Arn}/trajectories/*' },
      { actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], resource: '${DataBucket.Arn}/${CheckpointPrefix}/*' },
      { actions: ['s3:ListBucket'], resource: 'DataBucket.Arn' },
      { actions: [...trainerQueue].sort(), resource: 'TrajectoryQueue.Arn' },
    ]);
  });

  it('never deletes objects (no s3:DeleteObject needed) and lists only where ListBucket is granted for it', () => {
    const files = sourceFiles('api', 'trainer', 'core/checkpoints', 'core/logging');
    expect(files.filter((file) => /\bstore\.delete\(/.test(read(file)))).toEqual([]);
    // The console's trajectory browser and checkpoint list: s3:ListBucket on the bucket covers both.
    expect(files.filter((file) => /\bstore\.list\(/.test(read(file)))).toEqual(['core/checkpoints/layout.ts', 'core/logging/browse.ts']);
  });
});

describe('Batch job definition', () => {
  const job = resources.TrainerJobDefinition.Properties;
  const container = job.ContainerProperties;

  it('runs `cir train --loop --engine torch` on a GPU, with flags cir train knows', () => {
    const args: string[] = container.Command.map((a: unknown) => (typeof a === 'string' ? a : '<sub>'));
    expect(args.slice(0, 5)).toEqual(['train', '--loop', '--engine', 'torch', '--device']);
    for (const flag of args.filter((a) => a.startsWith('--'))) expect(trainUsage, flag).toContain(flag);
    expect(container.ResourceRequirements).toContainEqual({ Type: 'GPU', Value: { Ref: 'TrainerGpus' } });
    expect(resources.TrainerComputeEnvironment.Properties.ComputeResources.Ec2Configuration).toEqual([{ ImageType: 'ECS_AL2_NVIDIA' }]);
    expect(container.JobRoleArn).toEqual({ 'Fn::GetAtt': ['TrainerJobRole', 'Arn'] });
    expect(resources.TrainerJobRole.Properties.ManagedPolicyArns).toEqual([{ Ref: 'TrainerPolicy' }]);
  });

  it('sets only environment variables the trainer reads, pointing at this stack’s bucket and queue', () => {
    const known = knownEnvNames();
    const names = containerEnvNames(container.Environment);
    expect(names.filter((name) => !known.has(name))).toEqual([]);
    const env = Object.fromEntries(container.Environment.map((e: any) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      CIR_STORAGE: 's3',
      CIR_S3_BUCKET: { Ref: 'DataBucket' },
      CIR_QUEUE: 'sqs',
      CIR_SQS_QUEUE_URL: { Ref: 'TrajectoryQueue' },
      CIR_CHECKPOINTS: { Ref: 'CheckpointPrefix' },
    });
    // The run directory lives on the EFS volume: a retried job resumes it.
    expect(container.MountPoints).toEqual([{ ContainerPath: '/runs', SourceVolume: 'runs', ReadOnly: false }]);
    expect(container.Volumes[0].EfsVolumeConfiguration.FileSystemId).toEqual({ Ref: 'RunsFileSystem' });
    expect(env.CIR_DATA_DIR.startsWith('/runs/')).toBe(true);
  });
});
