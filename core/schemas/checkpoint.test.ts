import { describe, expect, it } from 'vitest';
import { CheckpointManifestError, parseCheckpointManifest, type CheckpointManifest } from './checkpoint.ts';

const manifest: CheckpointManifest = {
  schema_version: 2,
  version: 'ckpt-000100',
  parent: 'ckpt-000050',
  created_at: '2025-01-31T12:00:00Z',
  step: 100,
  files: { 'model.onnx': 'b'.repeat(64), 'tokenizer/tokenizer.json': 'c'.repeat(64) },
  tool_budget: { limit: 3, schedule: [{ step: 0, limit: 2 }, { step: 100, limit: 3 }] },
  tool_timeout_ms: 4_000,
  metrics: { reward_mean: 0.42, kl: 0.01 },
  tokenizer: 'tokenizer/tokenizer.json',
  chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
};

describe('checkpoint manifest', () => {
  it('parses a manifest object or its JSON text', () => {
    expect(parseCheckpointManifest(manifest)).toEqual(manifest);
    expect(parseCheckpointManifest(JSON.stringify({ ...manifest, parent: null }))).toEqual({ ...manifest, parent: null });
  });

  it('reads version 1 manifests, which have no tool timeout', () => {
    const { tool_timeout_ms: _, ...v1 } = { ...manifest, schema_version: 1 as const };
    expect(parseCheckpointManifest(v1)).toEqual(v1);
    expect(() => parseCheckpointManifest({ ...manifest, tool_timeout_ms: 0 })).toThrow(/tool_timeout_ms/);
  });

  it('names each problem: unsorted schedule, escaping path, bad hash, foreign version', () => {
    const bad = {
      ...manifest,
      schema_version: 3,
      files: { '../etc/passwd': 'b'.repeat(64), 'model.onnx': 'xyz' },
      tool_budget: { limit: 3, schedule: [{ step: 0, limit: 2 }, { step: 0, limit: 3 }] },
    };
    let error: unknown;
    try {
      parseCheckpointManifest(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointManifestError);
    const issues = (error as CheckpointManifestError).issues.join('\n');
    expect(issues).toContain('unsupported checkpoint manifest schema_version 3 (this build reads 1 and 2)');
    expect(issues).toContain('must be a relative path');
    expect(issues).toContain('files.model.onnx: must be a lower-case hex SHA-256');
    expect(issues).toContain('tool_budget.schedule: steps must be strictly increasing');
  });
});
