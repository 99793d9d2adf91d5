import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINTS_MODEL_NAME, EMBEDDED_MODEL_NAME, withEmbeddedModel } from './embedded-model.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-embedded-'));
  await writeFile(join(dir, 'model.onnx'), '');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('withEmbeddedModel', () => {
  it('fills in the embedded model when nothing is configured', () => {
    expect(withEmbeddedModel({ PORT: '1' }, dir)).toEqual({ PORT: '1', CIR_MODEL_DIR: dir, CIR_MODEL_NAME: EMBEDDED_MODEL_NAME });
    expect(withEmbeddedModel({ CIR_MODEL_DIR: '', CIR_MODEL_NAME: 'mine' }, dir)).toMatchObject({ CIR_MODEL_DIR: dir, CIR_MODEL_NAME: 'mine' });
  });

  it('leaves a configured model or URL alone', () => {
    for (const env of [{ CIR_MODEL_DIR: '/m' }, { CIR_MODEL_URL: 'http://x/v1' }, { CIR_MODEL_DIR: '/m', CIR_CHECKPOINTS: 'checkpoints' }]) {
      expect(withEmbeddedModel(env, dir)).toEqual(env);
    }
  });

  it('serves the embedded model under the checkpoints\' name until a checkpoint loads', () => {
    expect(withEmbeddedModel({ CIR_CHECKPOINTS: 'checkpoints' }, dir)).toEqual({ CIR_CHECKPOINTS: 'checkpoints', CIR_MODEL_DIR: dir, CIR_MODEL_NAME: CHECKPOINTS_MODEL_NAME });
  });

  it('serves no model for CIR_MODEL_DIR=none, or when the embedded model is missing', () => {
    expect(withEmbeddedModel({ CIR_MODEL_DIR: 'none' }, dir).CIR_MODEL_DIR).toBeUndefined();
    expect(withEmbeddedModel({}, join(dir, 'absent'))).toEqual({});
  });
});
