/**
 * The console's client of the API (same origin). The key, when the server needs one, is entered once
 * in the page and kept in sessionStorage (or localStorage when the user asks to remember it); it goes
 * only in the Authorization header, never in a URL.
 */

const KEY_NAME = 'cir.apiKey';

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY_NAME) ?? localStorage.getItem(KEY_NAME),
  set(key: string, remember: boolean): void {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
  },
  clear(): void {
    sessionStorage.removeItem(KEY_NAME);
    localStorage.removeItem(KEY_NAME);
  },
};

export type ProblemKind = 'server_down' | 'key_missing' | 'key_rejected' | 'no_model' | 'unsupported' | 'not_found' | 'invalid' | 'other';

/** What went wrong, in words a person can act on. */
export class ApiProblem extends Error {
  constructor(
    readonly kind: ProblemKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'ApiProblem';
  }
}

/** Listeners told about key problems (the shell opens the key dialog). */
const keyListeners = new Set<(problem: ApiProblem) => void>();
export const onKeyProblem = (listener: (problem: ApiProblem) => void) => keyListeners.add(listener);

function headers(json: boolean): Record<string, string> {
  const key = apiKey.get();
  return { ...(json && { 'content-type': 'application/json' }), ...(key && { authorization: `Bearer ${key}` }) };
}

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { method, headers: headers(body !== undefined), ...(body !== undefined && { body: JSON.stringify(body) }), ...(signal && { signal }) });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiProblem('server_down', `The server at ${location.origin} does not answer. Is \`cir serve\` (npm start) running?`);
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

async function problemOf(response: Response): Promise<ApiProblem> {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON (a proxy's page): keep the status line
  }
  const kind: ProblemKind =
    response.status === 401
      ? apiKey.get()
        ? 'key_rejected'
        : 'key_missing'
      : response.status === 503 && /no model|no checkpoint/i.test(message)
        ? 'no_model'
        : response.status === 501
          ? 'unsupported'
          : response.status === 404
            ? 'not_found'
            : response.status === 400
              ? 'invalid'
              : 'other';
  const problem = new ApiProblem(
    kind,
    kind === 'key_missing' ? 'This server needs an API key: enter one with the Key button.' : kind === 'key_rejected' ? `The API key was refused (${message}).` : message,
    response.status,
  );
  if (kind === 'key_missing' || kind === 'key_rejected') for (const listener of keyListeners) listener(problem);
  return problem;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await send('GET', path, undefined, signal)).json()) as T;
}

export async function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return (await (await send('POST', path, body, signal)).json()) as T;
}

export async function deleteJson<T>(path: string): Promise<T> {
  return (await (await send('DELETE', path)).json()) as T;
}

/**
 * POSTs and reads the answer as Server-Sent Events (EventSource cannot POST or send a header),
 * calling `onEvent` for each event as it arrives.
 */
export async function postSse(path: string, body: unknown, onEvent: (event: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
  const response = await send('POST', path, body, signal);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replaceAll('\r\n', '\n');
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent(event, JSON.parse(data.join('\n')));
    }
  }
}

/** Query string from the set fields of `params` (undefined and '' are left out). */
export function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '');
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : '';
}
