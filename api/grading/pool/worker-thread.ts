import { parentPort } from 'node:worker_threads';
import { grade } from '../index.ts';
import type { GradeRequest, GradeReply } from './index.ts';

/** One grading at a time, as the pool sends them; a grading that overruns is stopped by terminating this thread. */
parentPort!.on('message', (request: GradeRequest) => {
  let reply: GradeReply;
  try {
    reply = { id: request.id, result: grade(request.gold, request.pred, request.options) };
  } catch (error) {
    reply = { id: request.id, error: (error as Error).message };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true });
