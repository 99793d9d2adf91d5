// A grading thread for the pool's tests: speaks the pool's protocol, answers "equal" at once, and
// never returns for the gold "hang" (a grading stuck in one step, as the cooperative deadline cannot stop).
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (request) => {
  if (request.gold === 'hang') for (;;);
  parentPort.postMessage({ id: request.id, result: { equal: true, extracted: request.pred.answer ?? null, gold_parsed: request.gold, pred_parsed: null, reason: 'equal_identical' } });
});
parentPort.postMessage({ ready: true });
