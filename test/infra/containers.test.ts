import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainUsage } from '../../cli/commands/train.ts';
import { containerEnvNames, knownEnvNames, read, readDockerfile, readManifests, ROOT } from './definitions.ts';

/**
 * The container images and Kubernetes objects, checked offline (building and running the sandbox image takes
 * root and minutes: infra/sandbox/check-image.sh does it with podman, by hand; below, only that it fits): each
 * Dockerfile copies files that exist and are not excluded from the build context, starts the CLI it
 * installs, and the manifests set only variables the code reads, reference objects they define, and give
 * the sandbox exactly the settings infra/README.md documents.
 */

const dockerignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe.each(['infra/trainer/Dockerfile', 'infra/sandbox/Dockerfile'])('%s', (path) => {
  const file = readDockerfile(path);

  it('copies files that exist and that .dockerignore keeps in the build context', () => {
    expect(file.copies.length).toBeGreaterThan(0);
    for (const source of file.copies) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(dockerignore.filter((pattern) => source === pattern || source.startsWith(`${pattern}/`)), source).toEqual([]);
    }
    // Everything the CLI imports at run time (sandbox-service.test.ts starts a server from exactly these files).
    for (const folder of ['bin', 'api', 'cli', 'core', 'eval', 'model/tasks', 'trainer']) expect(file.copies).toContain(folder);
    expect(file.copies).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', '.npmrc']));
  });

  it('starts the cir CLI it copied, with variables the code reads', () => {
    expect(file.entrypoint).toEqual(['node', `${file.workdir}/bin/cir.mjs`]);
    const known = knownEnvNames();
    expect(Object.keys(file.env).filter((name) => !known.has(name) && name !== 'NODE_ENV')).toEqual([]);
    // Runtime dependencies only: nothing the CLI imports outside tests may be a devDependency.
    expect(read(path)).toContain('npm ci --omit=dev');
  });
});

describe('the trainer image and its Kubernetes Job', () => {
  const dockerfile = readDockerfile('infra/trainer/Dockerfile');
  const [claim, job] = readManifests('infra/trainer/job.yaml');
  const pod = job.spec.template.spec;
  const container = pod.containers[0];

  it('has torch with CUDA and transformers for the torch engine, found through CIR_TORCH_PYTHON', () => {
    expect(read('infra/trainer/Dockerfile')).toMatch(/--index-url "\$TORCH_INDEX_URL" torch/);
    expect(read('infra/trainer/Dockerfile')).toContain('-r trainer/engines/torch/requirements.txt');
    expect(dockerfile.env.CIR_TORCH_PYTHON).toBe('/opt/venv/bin/python');
    expect(readFileSync(join(ROOT, 'trainer/engines/torch/requirements.txt'), 'utf8')).toMatch(/^transformers/m);
  });

  it('runs `cir train --loop --engine torch` on an NVIDIA GPU, with flags cir train knows', () => {
    for (const args of [dockerfile.cmd, container.args as string[]]) {
      expect(args.slice(0, 4)).toEqual(['train', '--loop', '--engine', 'torch']);
      for (const flag of args.filter((a) => a.startsWith('--'))) expect(trainUsage, flag).toContain(flag);
    }
    expect(job.kind).toBe('Job');
    expect(container.resources.limits['nvidia.com/gpu']).toBe(1);
  });

  it('sets only variables the trainer reads, with every secret from a Secret', () => {
    const known = knownEnvNames();
    expect(containerEnvNames(container.env).filter((name) => !known.has(name))).toEqual([]);
    for (const entry of container.env) {
      if (['CIR_CF_API_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].includes(entry.name)) expect(entry.valueFrom?.secretKeyRef, entry.name).toBeDefined();
    }
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({ CIR_STORAGE: 's3', CIR_QUEUE: 'cloudflare', CIR_S3_REGION: 'auto' });
  });

  it('keeps its run directory on a volume that outlives the pod', () => {
    expect(claim.kind).toBe('PersistentVolumeClaim');
    const runs = pod.volumes.find((v: any) => v.name === 'runs');
    expect(runs.persistentVolumeClaim.claimName).toBe(claim.metadata.name);
    const runDir = container.args[container.args.indexOf('--run-dir') + 1];
    const mount = container.volumeMounts.find((m: any) => m.name === 'runs').mountPath;
    expect(runDir.startsWith(`${mount}/`)).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(1000);
    expect(read('infra/trainer/Dockerfile')).toMatch(/^USER node$/m);
  });
});

describe('the Python sandbox service', () => {
  const dockerfile = readDockerfile('infra/sandbox/Dockerfile');
  const [deployment, service, ingress] = readManifests('infra/sandbox/deployment.yaml');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

  it('is the Node server in executor-only mode, with bubblewrap and Debian’s python3-sympy/numpy', () => {
    expect(read('infra/sandbox/Dockerfile')).toMatch(/apt-get install .*bubblewrap python3 python3-sympy python3-numpy/);
    expect(dockerfile.cmd).toEqual(['serve']);
    for (const settings of [dockerfile.env, env]) expect(settings).toMatchObject({ CIR_MODEL_DIR: 'none', CIR_PYTHON_EXECUTOR: 'bwrap', HOST: '0.0.0.0', PORT: '8080' });
    const known = knownEnvNames();
    expect(containerEnvNames(container.env).filter((name) => !known.has(name))).toEqual([]);
  });

  it('accepts only the keys of a Secret (the Worker holds one as CIR_SANDBOX_API_KEY)', () => {
    expect(env.CIR_API_KEYS).toEqual({ secretKeyRef: { name: 'cir-sandbox', key: 'api-keys' } });
  });

  it('gets no capability and no root; only the seccomp, AppArmor and /proc settings bubblewrap needs', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(read('infra/sandbox/Dockerfile')).toMatch(/^USER 10001$/m);
    expect(pod.hostUsers).toBe(false);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      procMount: 'Unmasked',
      seccompProfile: { type: 'Unconfined' },
      appArmorProfile: { type: 'Unconfined' },
    });
    expect(JSON.stringify(deployment)).not.toContain('privileged');
    // A read-only root: the server writes only to its data directory and tsx's cache under /tmp.
    const mounts = container.volumeMounts.map((m: any) => m.mountPath).sort();
    expect(mounts).toEqual(['/tmp', env.CIR_DATA_DIR].sort());
  });

  it('is reached through a Service and an Ingress that point at it', () => {
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const portName = container.ports[0].name;
    expect(container.ports[0].containerPort).toBe(Number(env.PORT));
    expect(service.spec.ports[0].targetPort).toBe(portName);
    expect(container.readinessProbe.httpGet.port).toBe(portName);
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    expect(backend).toEqual({ name: service.metadata.name, port: { name: service.spec.ports[0].name } });
    expect(ingress.spec.tls[0].hosts).toEqual([ingress.spec.rules[0].host]);
  });
});

describe('the podman check of the sandbox image (infra/sandbox/check-image.sh: run by hand, as root, for minutes)', () => {
  const dockerfile = readDockerfile('infra/sandbox/Dockerfile');
  const check = read('infra/sandbox/check-image.sh');

  it('is executable bash that parses, as is infra/local-base.sh', () => {
    for (const script of ['infra/sandbox/check-image.sh', 'infra/local-base.sh']) {
      execFileSync('bash', ['-n', join(ROOT, script)]);
      expect(statSync(join(ROOT, script)).mode & 0o111, script).not.toBe(0);
    }
  });

  it('builds the Dockerfile on the base it names, which infra/local-base.sh makes with that Node major version', () => {
    expect(check).toContain('-f infra/sandbox/Dockerfile');
    expect(check).toContain(`BASE=docker.io/library/${dockerfile.from}`);
    const major = /^node:(\d+)-bookworm/.exec(dockerfile.from)?.[1];
    expect(major, dockerfile.from).toBeDefined();
    expect(read('infra/local-base.sh')).toContain(`case "$node_version" in v${major}.*)`);
  });

  it('runs the image as deployment.yaml does: its uid, no capability, no privilege escalation, read-only root', () => {
    const [deployment] = readManifests('infra/sandbox/deployment.yaml');
    expect(check).toContain(`--user ${deployment.spec.template.spec.securityContext.runAsUser} --cap-drop ALL --security-opt no-new-privileges`);
    expect(check).toContain('--read-only');
    expect(check).not.toContain('--privileged');
  });
});
