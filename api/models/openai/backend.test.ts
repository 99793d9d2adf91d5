import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onError } from '../../middleware/errors/index.ts';
import { completionsRoutes, MODEL_RETRY_AFTER_S, toApiError } from '../../routes/completions.ts';
import { ensureModel } from '../../../scripts/make-model.ts';
import { OnnxBackend } from '../onnx/backend.ts';
import { OpenAIBackend } from './backend.ts';
import { loadOpenAIBackend } from './load.ts';

/**
 * The remote backend against local servers on 127.0.0.1: our own /v1/completions over the
 * ONNX fixture (a stand-in for vLLM that speaks its token-id extensions), and servers that
 * hang, fail, or answer garbage.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, forward: () => void) => void;

interface TestServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

let local: OnnxBackend;
let modelDir: string;
let forwardToModel: (req: IncomingMessage, res: ServerResponse) => void;
const servers: TestServer[] = [];

async function startServer(handler: Handler): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res, () => forwardToModel(req, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
  local = await OnnxBackend.load(modelDir, { id: 'tiny' });
  const app = new Hono();
  app.onError(onError(() => undefined));
  app.route('/', completionsRoutes(() => local));
  forwardToModel = getRequestListener(app.fetch);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await local?.dispose();
});

const load = (url: string, extra: Partial<Parameters<typeof loadOpenAIBackend>[0]> = {}) =>
  loadOpenAIBackend({ baseUrl: url, model: 'tiny', tokenizerDir: modelDir, timeoutMs: 2_000, retries: 2, ...extra });

describe('OpenAIBackend against an OpenAI-compatible server', () => {
  it('generates token-in/token-out what the model generates in-process', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    const remote = await load(server.url);
    expect(remote.info).toMatchObject({ id: 'tiny', backend: 'openai', contextLength: 256 });
    const prompt = remote.tokenizer.applyChatTemplate([{ role: 'user', content: 'Compute 6*7.' }]);
    const request = { prompt, n: 3, seed: 5, maxTokens: 12, temperature: 0.9, topLogprobs: 2, stop: ['e'] };
    const events: number[] = [];
    const viaHttp = await remote.generate(request, { onToken: (e) => events.push(e.tokenId) });
    const direct = await local.generate(request);
    viaHttp.sequences.forEach((s, i) => {
      const d = direct.sequences[i]!;
      expect(s.tokenIds).toEqual(d.tokenIds);
      s.logprobs.forEach((lp, j) => expect(lp).toBeCloseTo(d.logprobs[j]!, 5));
      expect(s.text).toBe(d.text);
      expect(s.finishReason).toBe(d.finishReason);
      expect(s.stop).toEqual(d.stop);
      expect(s.topLogprobs![0]![0]!.tokenId).toBe(d.topLogprobs![0]![0]!.tokenId);
    });
    expect(events.length).toBe(viaHttp.usage.completionTokens);
  });

  it('continues a sequence by re-sending its ids, with tool output appended', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    const remote = await load(server.url);
    const group = remote.startGroup({ prompt: remote.tokenizer.encode('x = 1'), seed: 2 });
    const seq = group.sequences[0]!;
    const first = await seq.generate({ maxTokens: 4, temperature: 0, ignoreEos: true });
    const tool = remote.tokenizer.encode('```output\n1\n```\n');
    seq.append(tool);
    const second = await seq.generate({ maxTokens: 4, temperature: 0, ignoreEos: true });
    const oneShot = await local.generate({ prompt: seq.tokenIds.slice(0, -4), maxTokens: 4, temperature: 0, ignoreEos: true });
    expect(second.tokenIds).toEqual(oneShot.sequences[0]!.tokenIds);
    expect(seq.tokenIds.length).toBe(seq.promptLength + first.tokenIds.length + tool.length + 4);
    group.dispose();
  });

  it('samples every turn of a seeded sequence as the in-process backend does', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    const remote = await load(server.url);
    const prompt = remote.tokenizer.encode('x = 1');
    const tool = remote.tokenizer.encode('```output\n1\n```\n');
    // Three sampled turns with tool output between them; near-uniform random weights make every
    // token depend on the random stream, so a turn seeded differently would differ at once.
    const threeTurns = async (backend: OnnxBackend | OpenAIBackend) => {
      const group = backend.startGroup({ prompt, n: 2, seed: 40 });
      const turns = await Promise.all(
        group.sequences.map(async (seq) => {
          const out: number[][] = [];
          for (let t = 0; t < 3; t++) {
            if (t > 0) seq.append(tool);
            out.push((await seq.generate({ maxTokens: 6, temperature: 1, ignoreEos: true })).tokenIds);
          }
          return out;
        }),
      );
      group.dispose();
      return turns;
    };
    const viaHttp = await threeTurns(remote);
    expect(viaHttp).toEqual(await threeTurns(local));
    expect(viaHttp[0]).not.toEqual(viaHttp[1]);
  });

  it('stops on token sequences client-side', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    const remote = await load(server.url);
    const prompt = remote.tokenizer.encode('Hello');
    const free = (await local.generate({ prompt, maxTokens: 10, temperature: 0, ignoreEos: true })).sequences[0]!.tokenIds;
    const stop = free.slice(2, 4);
    // The shortest prefix of the free run that ends with the stop sequence.
    const end = free.findIndex((_, i) => i >= 1 && free[i - 1] === stop[0] && free[i] === stop[1]) + 1;
    const cut = (await remote.generate({ prompt, maxTokens: 10, temperature: 0, ignoreEos: true, stopSequences: [stop] })).sequences[0]!;
    expect(cut.tokenIds).toEqual(free.slice(0, end));
    expect(cut.stop).toEqual({ type: 'stop_sequence', tokenIds: stop });
  });

  it('retries 5xx answers with backoff', async () => {
    let failures = 2;
    const server = await startServer((req, res, forward) => {
      if (req.url?.endsWith('/completions') && failures-- > 0) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"warming up"}}');
        return;
      }
      forward();
    });
    const remote = await load(server.url);
    // (ignoreEos: unseeded sampling from the random fixture may end on EOS after one token.)
    const result = await remote.generate({ prompt: [1, 2, 3], maxTokens: 2, ignoreEos: true });
    expect(result.sequences[0]!.tokenIds).toHaveLength(2);
    expect(server.requests.filter((r) => r.endsWith('/completions'))).toHaveLength(3);
  });

  it('does not retry a 4xx, and reports its message', async () => {
    const server = await startServer((req, res, forward) => {
      if (req.url?.endsWith('/completions')) res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"prompt too long"}}');
      else forward();
    });
    const remote = await load(server.url);
    await expect(remote.generate({ prompt: [1, 2], maxTokens: 2 })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/answered 400: prompt too long/) });
    expect(server.requests.filter((r) => r.endsWith('/completions'))).toHaveLength(1);
  });
});

describe('OpenAIBackend against a broken server', () => {
  it('times out on a server that never answers, after its retries', async () => {
    const server = await startServer(() => undefined);
    const started = Date.now();
    await expect(load(server.url, { timeoutMs: 150, retries: 1 })).rejects.toThrow(/failed after 2 attempts: .*no response for 150 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(server.requests).toHaveLength(2);
  });

  it('times out on a stream that stops mid-way, without retrying what was used', async () => {
    const server = await startServer((req, res, forward) => {
      if (!req.url?.endsWith('/completions')) return forward();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: 'a', token_ids: [5], logprobs: { tokens: ['token_id:5'], token_logprobs: [-1] } }] })}\n\n`);
      // ...and then nothing.
    });
    const remote = await load(server.url, { timeoutMs: 200, retries: 3 });
    await expect(remote.generate({ prompt: [1, 2], maxTokens: 5 })).rejects.toThrow(/no response for 200 ms/);
    expect(server.requests.filter((r) => r.endsWith('/completions'))).toHaveLength(1);
  });

  it('fails clearly on garbage', async () => {
    const notJson = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>hello</html>'));
    await expect(load(notJson.url)).rejects.toThrow(/answered something that is not JSON: "<html>hello<\/html>"/);

    const wrongShape = await startServer((req, res, forward) => {
      if (!req.url?.endsWith('/completions')) return forward();
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"choices":[{"index":0,"txt":"a"}]}\n\ndata: [DONE]\n\n');
    });
    const remote = await load(wrongShape.url);
    await expect(remote.generate({ prompt: [1, 2], maxTokens: 2 })).rejects.toThrow(/invalid completion chunk: choices\.0\.text/);

    const noIds = await startServer((req, res, forward) => {
      if (!req.url?.endsWith('/completions')) return forward();
      const chunk = { choices: [{ index: 0, text: 'a', logprobs: { tokens: ['a'], token_logprobs: [-1] }, finish_reason: 'length' }] };
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
    });
    const plain = await load(noIds.url);
    await expect(plain.generate({ prompt: [1, 2], maxTokens: 2 })).rejects.toThrow(/without its id: the server must support return_tokens_as_token_ids/);
  });

  it('refuses a server that does not serve the model, or an unreachable one', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    await expect(load(server.url, { model: 'other' })).rejects.toThrow(/does not serve model "other" \(it serves: tiny\)/);
    const closed = await startServer(() => undefined);
    await closed.close();
    await expect(load(closed.url, { retries: 0 })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('marks a server that went away or stopped answering as unavailable (a 503 with Retry-After), and garbage as not', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    const remote = await load(server.url, { retries: 1 });
    await server.close();
    const gone = await remote.generate({ prompt: [1, 2], maxTokens: 2 }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ name: 'RemoteModelError', unavailable: true });
    expect(toApiError(gone)).toMatchObject({ status: 503, type: 'overloaded', headers: { 'Retry-After': MODEL_RETRY_AFTER_S } });
    const silent = await startServer(() => undefined);
    const timedOut = await load(silent.url, { timeoutMs: 100, retries: 0 }).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ unavailable: true });
    const garbage = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>'));
    const invalid = await load(garbage.url).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ unavailable: false });
    expect(toApiError(invalid)).toMatchObject({ status: 502 });
  });

  it('stops an in-flight request when aborted, and the server stops generating', async () => {
    const server = await startServer((_req, _res, forward) => forward());
    const remote = await load(server.url);
    const controller = new AbortController();
    const running = remote.generate({ prompt: [1, 2], maxTokens: 250, ignoreEos: true }, {
      signal: controller.signal,
      onToken: () => controller.abort(new Error('stop now')),
    });
    await expect(running).rejects.toThrow('stop now');
    // Closing the connection aborts the generation behind it well before its 250 tokens.
    for (let i = 0; i < 100 && local.stats().active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(local.stats().active).toBe(0);
  });
});
