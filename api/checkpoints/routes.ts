import { Hono } from 'hono';
import { ApiError } from '../errors.ts';
import type { CheckpointControl } from './status.ts';

/**
 * `POST /v1/checkpoints/check`: look at the checkpoint store now instead of at the next poll. How a
 * publisher notifies servers whose store cannot (S3, R2); the answer says what happened:
 * `{ outcome: 'swapped' | 'unchanged' | 'empty' | 'refused' | 'error', ... , checkpoint: <watch status> }`.
 * `GET /v1/checkpoints`: the checkpoints published in the store, newest first (version, parent, step,
 * created_at, tool budget, metrics from each manifest), with the watch status (serving, swapped_in, refused).
 */
const notWatching = () => new ApiError(501, 'unsupported', 'this server does not watch a checkpoint store (set CIR_CHECKPOINTS on a Node server)');

export function checkpointRoutes(control: CheckpointControl | undefined): Hono {
  return new Hono()
    .post('/v1/checkpoints/check', async (c) => {
      if (!control) throw notWatching();
      const result = await control.check();
      return c.json({ ...result, checkpoint: control.status() });
    })
    .get('/v1/checkpoints', async (c) => {
      if (!control?.published) throw notWatching();
      return c.json({ data: await control.published(), watch: control.status() });
    });
}
