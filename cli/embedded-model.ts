import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMBEDDED_MODEL_NAME } from '../api/models/embedded-name.ts';

/** The model trained here and shipped in the repository (model/README.md, issue 8). */
export const EMBEDDED_MODEL_DIR = fileURLToPath(new URL('../model/default', import.meta.url));
export { EMBEDDED_MODEL_NAME } from '../api/models/embedded-name.ts';

/**
 * The environment with the embedded model filled in: when no model is configured (no CIR_MODEL_DIR or
 * CIR_MODEL_URL), the embedded model, so that `npm start`, `cir solve` and `cir eval` on a fresh clone
 * solve problems with nothing external. With CIR_CHECKPOINTS it is what is served until a checkpoint
 * loads (under the checkpoints' model name, "cir", unless CIR_MODEL_NAME says otherwise; /v1/info says
 * so). CIR_MODEL_DIR=none serves no model.
 */
export function withEmbeddedModel(env: Record<string, string | undefined>, embeddedDir = EMBEDDED_MODEL_DIR): Record<string, string | undefined> {
  if (env.CIR_MODEL_DIR === 'none') return { ...env, CIR_MODEL_DIR: undefined };
  const configured = ['CIR_MODEL_DIR', 'CIR_MODEL_URL'].some((name) => (env[name] ?? '') !== '');
  if (configured || !existsSync(join(embeddedDir, 'model.onnx'))) return env;
  const name = env.CIR_MODEL_NAME || ((env.CIR_CHECKPOINTS ?? '') !== '' ? CHECKPOINTS_MODEL_NAME : EMBEDDED_MODEL_NAME);
  return { ...env, CIR_MODEL_DIR: embeddedDir, CIR_MODEL_NAME: name };
}

/** The name checkpoints are served under when nothing else names them. */
export const CHECKPOINTS_MODEL_NAME = 'cir';

