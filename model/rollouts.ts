import type { Problem } from './tasks/generate.ts';

/**
 * RL rollouts through the served API: problems of the `rl` split, with their gold answers, are
 * POSTed to `/v1/solve`, n samples each. The server runs the real loop, grades each sample and
 * logs every trajectory (storage + queue) for the trainer (`cir train`); this side only picks the
 * problems and keeps score. `fetch` is injectable so a test can drive an in-process app.
 */

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface RolloutOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:8787. */
  baseUrl: string;
  apiKey?: string;
  /** Samples per problem (the GRPO group). */
  n: number;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  /** Default: the served checkpoint's budget. */
  maxToolCalls?: number;
  /** Requests in flight at once (default 2). */
  concurrency?: number;
  /** Free-form labels logged with each trajectory (e.g. the run name). */
  tags?: Record<string, string>;
  fetch?: FetchLike;
  signal?: AbortSignal;
  onProblem?: (done: number, total: number) => void;
}

export interface RolloutStats {
  problems: number;
  samples: number;
  accuracy: number;
  toolCallsPerSample: number;
  /** Problems whose n samples were not all graded the same: the groups GRPO learns from. */
  groupsWithSignal: number;
  /** Problems the server refused (non-2xx), with its error message. */
  failed: { problemId: string; status: number; message: string }[];
  seconds: number;
}

interface SolveResponse {
  samples: { correct?: boolean; tool_calls: { used: number } }[];
}

export async function runRollouts(problems: readonly Problem[], options: RolloutOptions): Promise<RolloutStats> {
  const started = performance.now();
  const doFetch: FetchLike = options.fetch ?? ((url, init) => fetch(url, init));
  const url = `${options.baseUrl.replace(/\/+$/, '')}/v1/solve`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  let next = 0;
  let done = 0;
  let samples = 0;
  let correct = 0;
  let toolCalls = 0;
  let groupsWithSignal = 0;
  const failed: RolloutStats['failed'] = [];

  const worker = async () => {
    while (next < problems.length) {
      options.signal?.throwIfAborted();
      const problem = problems[next++]!;
      const body = {
        problem: problem.text,
        gold: problem.answer,
        n: options.n,
        ...(options.temperature !== undefined && { temperature: options.temperature }),
        ...(options.topP !== undefined && { top_p: options.topP }),
        ...(options.maxTokens !== undefined && { max_tokens: options.maxTokens }),
        ...(options.maxToolCalls !== undefined && { max_tool_calls: options.maxToolCalls }),
        tags: { ...options.tags, problem_id: problem.id, split: problem.split, kind: problem.kind, level: String(problem.level) },
      };
      const response = await doFetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: options.signal });
      if (!response.ok) {
        const text = await response.text();
        let message = text;
        try {
          message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
        } catch {
          // not JSON: keep the text
        }
        failed.push({ problemId: problem.id, status: response.status, message });
      } else {
        const result = (await response.json()) as SolveResponse;
        const graded = result.samples.map((s) => s.correct === true);
        samples += graded.length;
        correct += graded.filter(Boolean).length;
        toolCalls += result.samples.reduce((sum, s) => sum + s.tool_calls.used, 0);
        if (graded.some(Boolean) && !graded.every(Boolean)) groupsWithSignal++;
      }
      options.onProblem?.(++done, problems.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  return {
    problems: problems.length,
    samples,
    accuracy: correct / Math.max(1, samples),
    toolCallsPerSample: toolCalls / Math.max(1, samples),
    groupsWithSignal,
    failed,
    seconds: (performance.now() - started) / 1000,
  };
}
