import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml, type Tags } from 'yaml';

/** Helpers shared by the infra/ tests: where things are, the names the code knows, YAML as the tools read it. */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Source files (not tests) under the given folders, as paths relative to the repository root. */
export function sourceFiles(...dirs: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) files.push(relative(ROOT, path));
    }
  };
  for (const dir of dirs) walk(join(ROOT, dir));
  return files.sort();
}

/**
 * Every environment variable the server, the trainer and the CLI read: CIR_* names that appear in their
 * source, the AWS SDK's credential variables (core/aws-client.ts), and HOST/PORT (api/config.ts).
 */
export function knownEnvNames(): Set<string> {
  const names = new Set<string>();
  for (const file of sourceFiles('api', 'core', 'trainer', 'cli', 'eval')) {
    for (const match of read(file).matchAll(/\b(CIR_[A-Z0-9_]+|AWS_[A-Z_]+)\b/g)) names.add(match[1]!);
  }
  for (const name of ['HOST', 'PORT']) if (/\b(HOST|PORT):/.test(read('api/config.ts'))) names.add(name);
  return names;
}

/** Secrets: never given a value in a committed file. */
export const SECRET_NAMES = ['CIR_API_KEYS', 'CIR_SANDBOX_API_KEY', 'CIR_MODEL_API_KEY', 'CIR_CF_API_TOKEN', 'CIR_NOTIFY_API_KEY', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

/** CloudFormation's short-form intrinsic functions, read into their long forms (`!Ref X` → `{ Ref: 'X' }`). */
const cloudFormationTags: Tags = [
  ...['Ref', 'Condition'].map((name) => ({ tag: `!${name}`, resolve: (value: string) => ({ [name]: value }) })),
  {
    tag: '!GetAtt',
    resolve: (value: string) => {
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
  ...['Sub', 'Base64', 'GetAZs', 'ImportValue'].map((name) => ({ tag: `!${name}`, resolve: (value: string) => ({ [`Fn::${name}`]: value }) })),
  ...['Sub', 'Select', 'Join', 'Split', 'If', 'Equals', 'And', 'Or', 'Not', 'FindInMap', 'GetAtt', 'Cidr'].map((name) => ({
    tag: `!${name}`,
    collection: 'seq' as const,
    resolve: (value: { toJSON(): unknown }) => ({ [`Fn::${name}`]: value.toJSON() }),
  })),
];

export function readCloudFormation(path: string): any {
  return parseYaml(read(path), { customTags: cloudFormationTags });
}

/** A multi-document Kubernetes manifest: its objects, each with kind and metadata.name. */
export function readManifests(path: string): any[] {
  const documents = parseAllDocuments(read(path));
  for (const document of documents) if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
  return documents.map((document) => document.toJSON());
}

/** Names of the environment variables a Kubernetes container or a Batch container sets. */
export const containerEnvNames = (env: { name?: string; Name?: string }[] = []): string[] => env.map((e) => e.name ?? e.Name ?? '');

export interface Dockerfile {
  /** The base image, as FROM names it. */
  from: string;
  copies: string[];
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
}

/** The instructions this check needs (COPY sources, WORKDIR, ENV, ENTRYPOINT, CMD), continuation lines joined. */
export function readDockerfile(path: string): Dockerfile {
  const lines = read(path).replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const file: Dockerfile = { from: '', copies: [], workdir: '/', env: {}, entrypoint: [], cmd: [] };
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (instruction === 'COPY') file.copies.push(...rest.filter((a) => !a.startsWith('--')).slice(0, -1));
    if (instruction === 'FROM') file.from = args;
    if (instruction === 'WORKDIR') file.workdir = args;
    if (instruction === 'ENV') for (const m of args.matchAll(/(\w+)=(\S+)/g)) file.env[m[1]!] = m[2]!;
    if (instruction === 'ENTRYPOINT') file.entrypoint = JSON.parse(args);
    if (instruction === 'CMD') file.cmd = JSON.parse(args);
  }
  return file;
}

