import { z } from 'zod';
import { formatIssues } from '../../../core/schemas/issues.ts';

/**
 * HTTP client for an OpenAI-compatible server (vLLM, or our own /v1/completions): retries with
 * exponential backoff on network errors, timeouts, 429 and 5xx; an idle timeout that also
 * covers a stream that stops mid-way; every response validated, so a server answering garbage
 * fails with a message saying what was wrong instead of odd values downstream.
 */

export class RemoteModelError extends Error {
  constructor(
    message: string,
    /** HTTP status, when the server answered with an error status. */
    readonly status?: number,
    /** The server could not be reached or kept failing through every retry (down, overloaded, timing out): worth trying again later. */
    readonly unavailable = false,
  ) {
    super(message);
    this.name = 'RemoteModelError';
  }
}

/** A response that is not what the protocol says: never retried. */
class InvalidResponse extends RemoteModelError {}

/** The stream broke; `used` says whether events were already handed to the caller. */
class StreamBroken extends Error {
  constructor(
    override readonly cause: unknown,
    readonly used: boolean,
  ) {
    super(`the stream broke off: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** Longest wait for the response to start, and between two stream events. */
  timeoutMs: number;
  /** Attempts after the first one, for failures that happen before any data was used. */
  retries: number;
}

const ErrorBody = z.object({ error: z.union([z.string(), z.object({ message: z.string() }).loose()]) }).loose();

const CompletionLogprobs = z
  .object({
    tokens: z.array(z.string()),
    token_logprobs: z.array(z.number().nullable()),
    top_logprobs: z.array(z.record(z.string(), z.number()).nullable()).nullish(),
  })
  .loose();

export const CompletionChoice = z
  .object({
    index: z.number().int().nonnegative(),
    text: z.string(),
    logprobs: CompletionLogprobs.nullish(),
    finish_reason: z.string().nullish(),
    stop_reason: z.union([z.string(), z.number()]).nullish(),
    token_ids: z.array(z.number().int()).nullish(),
  })
  .loose();
export type CompletionChoice = z.infer<typeof CompletionChoice>;

const CompletionChunk = z.object({ choices: z.array(CompletionChoice) }).loose();

const ModelList = z.object({ data: z.array(z.object({ id: z.string(), max_model_len: z.number().int().positive().nullish() }).loose()) }).loose();
export type ModelList = z.infer<typeof ModelList>;

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

function describeIssues(error: z.ZodError): string {
  return formatIssues(error, 3).join('; ');
}

function backoffMs(attempt: number, retryAfter: string | null): number {
  const seconds = retryAfter === null ? NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 30_000);
  const base = Math.min(200 * 2 ** attempt, 5_000);
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** Aborts when told to, when the caller's signal aborts, or when no progress was reported for timeoutMs. */
class IdleDeadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  readonly signal: AbortSignal;

  constructor(
    private readonly timeoutMs: number,
    outer?: AbortSignal,
  ) {
    this.signal = outer ? AbortSignal.any([outer, this.controller.signal]) : this.controller.signal;
    this.touch();
  }

  get timedOut(): boolean {
    return this.controller.signal.aborted;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new RemoteModelError(`no response for ${this.timeoutMs} ms`)), this.timeoutMs);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

export class OpenAIClient {
  constructor(private readonly options: ClientOptions) {}

  private url(path: string): string {
    return `${this.options.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  /**
   * Sends a request, retrying what is worth retrying, and hands the open response to `consume`.
   * `consume` reports progress through `touch` (which resets the idle timeout) and returns
   * whether it used any data: once it has, a failure is final (a retry would replay it).
   */
  private async request<T>(
    path: string,
    init: { method: 'GET' | 'POST'; body?: unknown },
    signal: AbortSignal | undefined,
    consume: (response: Response, deadline: IdleDeadline) => Promise<T>,
  ): Promise<T> {
    const url = this.url(path);
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      signal?.throwIfAborted();
      const deadline = new IdleDeadline(this.options.timeoutMs, signal);
      let retryAfter: string | null = null;
      try {
        const response = await fetch(url, {
          method: init.method,
          headers: this.headers(),
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal: deadline.signal,
        });
        if (!response.ok) {
          const detail = await response.text().catch(() => '');
          const message = errorMessage(tryParseJson(detail)) ?? detail.slice(0, 200);
          const error = new RemoteModelError(`${init.method} ${url} answered ${response.status}: ${message || response.statusText}`, response.status);
          if (!RETRYABLE_STATUS.has(response.status)) throw error;
          retryAfter = response.headers.get('retry-after');
          lastError = error;
        } else {
          return await consume(response, deadline);
        }
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        // Network failures (fetch throws TypeError), timeouts and broken streams are retried,
        // unless events were already handed on: then a retry would replay them.
        const retryable =
          !(error instanceof StreamBroken && error.used) &&
          (deadline.timedOut ||
            error instanceof TypeError ||
            error instanceof StreamBroken ||
            (error instanceof RemoteModelError && error.status !== undefined && RETRYABLE_STATUS.has(error.status)));
        if (!retryable) throw unwrap(error, url, deadline);
        lastError = unwrap(error, url, deadline);
      } finally {
        deadline.clear();
      }
      if (attempt < this.options.retries) await sleep(backoffMs(attempt, retryAfter), signal);
    }
    throw new RemoteModelError(`${init.method} ${url} failed after ${this.options.retries + 1} attempts: ${(lastError as Error).message}`, undefined, true);
  }

  async listModels(signal?: AbortSignal): Promise<ModelList> {
    return this.request('/models', { method: 'GET' }, signal, async (response, deadline) => {
      const text = await response.text();
      deadline.touch();
      return parseJson(text, ModelList, this.url('/models'));
    });
  }

  /**
   * POSTs a streaming completion and calls `onChoice` for every choice of every event. Returns
   * when the stream ends ([DONE] or end of body), or when `onChoice` returns true (the caller
   * has what it needs: the connection is closed, which makes vLLM abort the request).
   */
  async streamCompletion(body: Record<string, unknown>, signal: AbortSignal | undefined, onChoice: (choice: CompletionChoice) => boolean | void): Promise<void> {
    const url = this.url('/completions');
    await this.request('/completions', { method: 'POST', body: { ...body, stream: true } }, signal, async (response, deadline) => {
      if (!response.body) throw new InvalidResponse(`${url} answered without a body`);
      let used = false;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<string>;
          try {
            chunk = await reader.read();
          } catch (error) {
            throw new StreamBroken(error, used);
          }
          if (chunk.done) break;
          deadline.touch();
          buffer += chunk.value;
          let boundary: RegExpExecArray | null;
          while ((boundary = /\r?\n\r?\n/.exec(buffer))) {
            const event = buffer.slice(0, boundary.index);
            buffer = buffer.slice(boundary.index + boundary[0].length);
            const data = event
              .split(/\r?\n/)
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart())
              .join('\n');
            if (data === '') continue;
            if (data === '[DONE]') return;
            const parsed = parseJsonValue(data, url);
            const reported = errorMessage(parsed);
            if (reported !== undefined) throw new RemoteModelError(`${url} reported an error mid-stream: ${reported}`);
            const checked = CompletionChunk.safeParse(parsed);
            if (!checked.success) throw new InvalidResponse(`${url} sent an invalid completion chunk: ${describeIssues(checked.error)}`);
            for (const choice of checked.data.choices) {
              used = true;
              if (onChoice(choice) === true) return;
            }
          }
        }
        if (buffer.trim() !== '') throw new InvalidResponse(`${url} ended the stream mid-event`);
        if (!used) throw new InvalidResponse(`${url} answered 200 without any completion events`);
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    });
  }
}

function unwrap(error: unknown, url: string, deadline: IdleDeadline): Error {
  if (deadline.timedOut) return new RemoteModelError(deadline.signal.reason instanceof Error ? `${url}: ${deadline.signal.reason.message}` : `${url} timed out`, undefined, true);
  if (error instanceof RemoteModelError) return error;
  if (error instanceof StreamBroken) return new RemoteModelError(`${url}: ${error.message}`);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return new RemoteModelError(`${url}: ${(error as Error).message}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`, undefined, true);
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The message of an OpenAI-style `{ error: ... }` body, if that is what `value` is. */
function errorMessage(value: unknown): string | undefined {
  const parsed = ErrorBody.safeParse(value);
  if (!parsed.success) return undefined;
  return typeof parsed.data.error === 'string' ? parsed.data.error : parsed.data.error.message;
}

function parseJsonValue(text: string, url: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidResponse(`${url} answered something that is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

function parseJson<T>(text: string, schema: z.ZodType<T>, url: string): T {
  const checked = schema.safeParse(parseJsonValue(text, url));
  if (!checked.success) throw new InvalidResponse(`${url} answered an unexpected shape: ${describeIssues(checked.error)}`);
  return checked.data;
}
