import { Hono } from 'hono';
import { ApiError } from '../errors.ts';
import type { CheckpointControl } from './status.ts';

/**
 * `POST /v1/checkpoints/check`: look at the checkpoint store now instead of at the next poll. How a
 * publisher notifies servers whose store cannot (S3, R2); the answer says what happened:
 * `{ outcome: 'swapped' | 'unchanged' | 'empty' | 'refused' | 'error', ... , checkpoint: <watch status> }`.
 */
export function checkpointRoutes(control: CheckpointControl | undefined): Hono {
  return new Hono().post('/v1/checkpoints/check', async (c) => {
    if (!control) throw new ApiError(501, 'unsupported', 'this server does not watch a checkpoint store (set CIR_CHECKPOINTS on a Node server)');
    const result = await control.check();
    return c.json({ ...result, checkpoint: control.status() });
  });
}
