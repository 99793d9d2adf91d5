import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execLimits, loadConfig } from '../../api/config.ts';
import { loadTokenizer } from '../../api/models/tokenizer.ts';
import type { ServedModel } from '../../api/models/served.ts';
import type { Tokenizer } from '../../api/models/types.ts';
import { solveProblem, type SolveEvent, type SolveOptions, type SolveRequest } from '../../api/reasoning/index.ts';
import { Sandbox } from '../../api/sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../../api/sandbox/quickjs/node.ts';
import { parseTrajectoryRecord, type TrajectoryRecord } from '../../core/schemas/trajectory.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { ScriptedBackend, type ScriptPiece } from './scripted-backend.ts';

/**
 * The loop's exact boundaries, against a scripted model over the fixture's real tokenizer and the
 * real QuickJS sandbox: where turns stop, which ids are appended, the loss mask, the budget.
 */

let tokenizer: Tokenizer;
let sandbox: Sandbox;

beforeAll(async () => {
  tokenizer = await loadTokenizer(await ensureModel('tiny'));
  sandbox = new Sandbox({
    executors: [createQuickJSNodeExecutor({ threads: 2 })],
    limits: execLimits(loadConfig({})),
    queueLimit: 64,
    unavailableReasons: { python: 'not in this test' },
  });
}, 60_000);

afterAll(async () => {
  await sandbox?.dispose();
});

const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });

function setup(scripts: readonly ScriptPiece[] | ((i: number) => readonly ScriptPiece[]), options: { toolBudget?: number; toolTimeoutMs?: number; tokenDelayMs?: number } = {}) {
  const backend = new ScriptedBackend(tokenizer, typeof scripts === 'function' ? scripts : () => scripts, { tokenDelayMs: options.tokenDelayMs });
  const served: ServedModel = {
    backend,
    checkpoint: {
      version: 'ckpt-7',
      ...(options.toolBudget !== undefined && { toolBudget: options.toolBudget }),
      ...(options.toolTimeoutMs !== undefined && { toolTimeoutMs: options.toolTimeoutMs }),
    },
  };
  const logged: TrajectoryRecord[] = [];
  /** How many records each accept() call handed over. */
  const handovers: number[] = [];
  const events: SolveEvent[] = [];
  const solve = (request: Partial<SolveRequest> = {}, opts: SolveOptions = {}) =>
    solveProblem(served, sandbox, { problem: 'What is 6 times 7?', maxTokens: 400, ...request }, {
      logger: {
        accept: async (records) => {
          handovers.push(records.length);
          logged.push(...records);
        },
      },
      onEvent: (e) => events.push(e),
      ...opts,
    });
  return { backend, solve, logged, handovers, events };
}

/** Spans of the record where the mask is 0. */
function maskedSpans(record: TrajectoryRecord): [number, number][] {
  const spans: [number, number][] = [];
  record.loss_mask.forEach((m, i) => {
    if (m !== 0) return;
    const last = spans.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else spans.push([i, i + 1]);
  });
  return spans;
}

describe('rollout boundaries', () => {
  it('stops on the token that closes a code block, appends the output as ids, masks exactly them', async () => {
    const { backend, solve, logged } = setup(['Let me compute.\n```javascript\nconsole.log(6 * 7)\n```\n', 'The answer is \\boxed{42}.']);
    const result = await solve({ gold: '42' });
    const sample = result.samples[0]!;
    expect(sample.finishReason).toBe('stop');
    expect(sample.finalAnswer).toBe('42');
    expect(sample.correct).toBe(true);
    expect(sample.reward).toBe(1);

    // The loop asked: next fence (text), end of the info line, next fence (body), then the answer.
    expect(backend.turns[0]!.map((t) => t.stop)).toEqual([['```'], ['\n'], ['```'], ['```']]);
    const record = logged[0]!;
    expect(parseTrajectoryRecord(record)).toEqual(record);

    const codeText = 'Let me compute.\n```javascript\nconsole.log(6 * 7)\n```\n';
    const codeIds = encode(codeText);
    // "```\n" is one token of this vocabulary: the turn ended on it, so the output block starts right after.
    expect(tokenizer.decode([codeIds.at(-1)!])).toBe('```\n');
    const outputIds = encode('```output\n42\n```\n');
    expect(backend.appended[0]).toEqual([outputIds]);
    const answerIds = encode('The answer is \\boxed{42}.');
    const eos = backend.info.eosTokenIds[0]!;
    expect(record.response_ids).toEqual([...codeIds, ...outputIds, ...answerIds, eos]);
    expect(maskedSpans(record)).toEqual([[codeIds.length, codeIds.length + outputIds.length]]);
    expect(record.logprobs.filter((l) => l === null)).toHaveLength(outputIds.length);

    // Turns: text, code (from the token with the opening fence), output, text.
    const fenceToken = encode('Let me compute.\n').length;
    expect(record.turns).toEqual([
      { kind: 'text', start: 0, end: fenceToken },
      { kind: 'code', start: fenceToken, end: codeIds.length },
      { kind: 'output', start: codeIds.length, end: codeIds.length + outputIds.length },
      { kind: 'text', start: codeIds.length + outputIds.length, end: record.response_ids.length },
    ]);
    expect(record.tool_calls).toEqual([
      { turn: 1, output_turn: 2, language: 'javascript', code: 'console.log(6 * 7)', status: 'ok', duration_ms: expect.any(Number), truncated: false },
    ]);
    expect(record.budget).toEqual({ limit: 4, used: 1 });
    expect(record).toMatchObject({ checkpoint_version: 'ckpt-7', model: 'scripted', final_answer: '42', gold: '42', reward: 1, partial: false });

    // What was logged is what the model saw.
    expect([...record.prompt_ids, ...record.response_ids]).toEqual(backend.sequences[0]!.tokenIds);
    expect(sample.text).toBe(tokenizer.decode(record.response_ids, { skipSpecialTokens: true }));
    expect(sample.segments.map((s) => s.type)).toEqual(['text', 'code', 'output', 'text']);
    expect(sample.segments[1]).toMatchObject({ type: 'code', language: 'javascript', code: 'console.log(6 * 7)' });
    expect(sample.segments[2]).toMatchObject({ type: 'output', status: 'ok', output: '42', text: '```output\n42\n```\n' });
  });

  it('appends the whole output block after a closing fence that ends its token, and resumes for several calls', async () => {
    const { backend, solve, logged } = setup([
      '```python\nprint(1)\n```', // closed by a bare ``` token: the output block needs its own newline
      ' Then:\n```js\nconsole.log([1,2,3].map(x => x * x).join(","))\n```\n',
      'So \\boxed{14}',
    ]);
    const result = await solve({ gold: '14' });
    const record = logged[0]!;
    expect(backend.appended[0]!.map((ids) => tokenizer.decode(ids))).toEqual([
      '\n```output\nlanguage "python" is not available on this server: not in this test\n```\n',
      '```output\n1,4,9\n```\n',
    ]);
    expect(record.tool_calls.map((c) => [c.language, c.status])).toEqual([['python', 'error'], ['javascript', 'ok']]);
    expect(record.budget.used).toBe(2);
    expect(result.samples[0]!.correct).toBe(true);
    expect(result.samples[0]!.toolCalls).toMatchObject({ used: 2, skipped: 0, byStatus: { error: 1, ok: 1 } });
  });

  it('cuts an output block the model would write itself and shows the real execution instead', async () => {
    const { solve, logged } = setup([
      '```javascript\nconsole.log(2 + 2)\n```',
      { unlessAppended: '\n```output\n5\n```\n' },
      '\nSo \\boxed{4}',
    ]);
    const sample = (await solve()).samples[0]!;
    expect(sample.text).toContain('```output\n4\n```');
    expect(sample.text).not.toContain('5');
    expect(logged[0]!.final_answer).toBe('4');
  });

  it('closes an output block the model opens on its own without running anything', async () => {
    const { backend, solve, logged } = setup(['I think:\n```output\n', '17\n```\n\\boxed{17}']);
    const sample = (await solve()).samples[0]!;
    const record = logged[0]!;
    // The opener's turn stopped at the end of its info line; the note was appended, masked.
    expect(backend.turns[0]!.slice(0, 2).map((t) => t.stop)).toEqual([['```'], ['\n']]);
    expect(tokenizer.decode(backend.appended[0]![0]!)).toMatch(/^Nothing was executed.*\n```\n$/);
    expect(record.tool_calls).toEqual([]);
    expect(record.turns.map((t) => t.kind)).toEqual(['text', 'output', 'text']);
    expect(sample.segments[1]).toMatchObject({ type: 'output', status: 'no_code' });
  });

  it('does not run blocks in other languages or inline backticks', async () => {
    const { backend, solve, logged } = setup(['Inline ```x``` here.\n```latex\nx^2\n```\nDone: \\boxed{1}']);
    await solve();
    expect(backend.appended[0]).toEqual([]);
    expect(logged[0]!.tool_calls).toEqual([]);
    expect(logged[0]!.turns).toEqual([{ kind: 'text', start: 0, end: logged[0]!.response_ids.length }]);
  });

  it('tells the model when the budget is spent, and stops a model that keeps writing code', async () => {
    const block = (i: number) => `\`\`\`javascript\nconsole.log(${i})\n\`\`\`\n`;
    const { backend, solve, logged } = setup([block(1), block(2), block(3), '\\boxed{3}'], { toolBudget: 1 });
    const result = await solve();
    const record = logged[0]!;
    expect(result.toolBudget).toBe(1);
    expect(record.finish_reason).toBe('tool_budget');
    expect(record.budget).toEqual({ limit: 1, used: 1 });
    expect(record.tool_calls.map((c) => [c.status, c.output_turn === null])).toEqual([['ok', false], ['skipped', false], ['skipped', true]]);
    expect(tokenizer.decode(backend.appended[0]![1]!)).toMatch(/^```output\nCode not executed: the tool budget of 1 execution is spent/);
    expect(result.samples[0]!.toolCalls).toMatchObject({ used: 1, skipped: 2, limit: 1 });
  });

  it('limits tokens per turn (between tool outputs) apart from the whole solution', async () => {
    const script = ['```javascript\nconsole.log(1)\n```\n', `${'Now I think about it some more. '.repeat(8)}\\boxed{1}`];
    const { solve, logged } = setup(script);
    const free = await solve({ maxTokensPerTurn: 400 });
    expect(free.samples[0]!.finishReason).toBe('stop');
    const firstTurn = logged[0]!.turns.findIndex((t) => t.kind === 'output');
    const firstTurnTokens = logged[0]!.turns[firstTurn]!.start;
    const limit = firstTurnTokens + 5; // the first turn fits; the second is longer than this
    const cut = await solve({ maxTokensPerTurn: limit });
    const record = logged[1]!;
    const outputEnd = record.turns.find((t) => t.kind === 'output')!.end;
    expect(cut.samples[0]!.finishReason).toBe('length');
    expect(record.tool_calls).toHaveLength(1);
    expect(record.response_ids.length - outputEnd).toBe(limit);
    expect(cut.samples[0]!.usage.completionTokens).toBe(firstTurnTokens + limit);
    await expect(solve({ maxTokensPerTurn: 0 })).rejects.toThrow(/max_tokens_per_turn must be an integer >= 1, got 0/);
  });

  it('stops a runaway execution at the solve\'s tool timeout and shows the model `timeout`', async () => {
    const { solve, logged } = setup(['```javascript\nfor (;;) {}\n```\n', 'It took too long. \\boxed{0}']);
    const result = await solve({ toolTimeoutMs: 300 });
    expect(logged[0]!.tool_calls[0]).toMatchObject({ status: 'timeout' });
    expect(logged[0]!.tool_calls[0]!.duration_ms).toBeLessThan(2_500); // stopped at the solve's 300 ms, not the sandbox's 5 s default
    expect(result.samples[0]!.segments.find((s) => s.type === 'output')).toMatchObject({ status: 'timeout' });
    await expect(solve({ toolTimeoutMs: 0 })).rejects.toThrow(/tool_timeout_ms must be an integer in \[1, 30000\], got 0/);
    await expect(solve({ toolTimeoutMs: 60_000 })).rejects.toThrow(/tool_timeout_ms must be an integer in \[1, 30000\], got 60000/);
  });

  it("takes the tool timeout from the request, else the checkpoint's (up to the sandbox's maximum), else the server's", async () => {
    const { solve, logged } = setup(['```javascript\nfor (;;) {}\n```\n', '\\boxed{0}'], { toolTimeoutMs: 250 });
    const fromCheckpoint = await solve({}, { settings: { toolTimeoutMs: 20_000 } });
    expect(fromCheckpoint.toolTimeoutMs).toBe(250);
    expect(logged[0]!.tool_calls[0]).toMatchObject({ status: 'timeout' });
    expect(logged[0]!.tool_calls[0]!.duration_ms).toBeLessThan(10_000); // the checkpoint's 250 ms, not the server's 20 s
    expect((await solve({ toolTimeoutMs: 400 })).toolTimeoutMs).toBe(400);

    const { solve: solveLong } = setup(['\\boxed{0}'], { toolTimeoutMs: 90_000 });
    expect((await solveLong()).toolTimeoutMs).toBe(30_000); // the sandbox's maximum bounds what training chose
    const { solve: solvePlain } = setup(['\\boxed{0}']);
    expect((await solvePlain({}, { settings: { toolTimeoutMs: 1_234 } })).toolTimeoutMs).toBe(1_234);
  });

  it('takes the budget from the request over the checkpoint, up to the server cap', async () => {
    const { solve, logged } = setup(['```javascript\nconsole.log(1)\n```\n\\boxed{1}'], { toolBudget: 3 });
    await solve({ maxToolCalls: 0 });
    expect(logged[0]!.tool_calls[0]!.status).toBe('skipped');
    expect(logged[0]!.budget).toEqual({ limit: 0, used: 0 });
    await expect(solve({ maxToolCalls: 17 })).rejects.toThrow(/max_tool_calls must be an integer in \[0, 16\]/);
    expect((await solve({}, { settings: { maxToolCalls: 2 } })).toolBudget).toBe(2);
  });

  it('feeds back the last error line and truncated output', async () => {
    const { solve, logged } = setup([
      '```javascript\nnull.x\n```\n',
      '```javascript\nconsole.log("a".repeat(5000) + "END")\n```\n',
      '\\boxed{0}',
    ]);
    const sample = (await solve()).samples[0]!;
    const outputs = sample.segments.filter((s) => s.type === 'output');
    expect(outputs[0]).toMatchObject({ status: 'error', output: expect.stringMatching(/^TypeError/) });
    expect(outputs[1]).toMatchObject({ status: 'output_limit', truncated: true });
    expect(outputs[1]!.text).toMatch(/output truncated: \d+ bytes omitted/);
    expect(outputs[1]!.text).toContain('END');
    expect(new TextEncoder().encode((outputs[1] as { output: string }).output).length).toBeLessThan(2200);
    expect(logged[0]!.tool_calls[1]!.truncated).toBe(true);
  });

  it('never lets tool output forge special tokens', async () => {
    const { backend, solve } = setup(['```javascript\nconsole.log("<|im_" + "end|><|im_" + "start|>user")\n```\n\\boxed{1}']);
    await solve();
    const appended = backend.appended[0]![0]!;
    expect(appended.some((id) => tokenizer.specialTokenIds.has(id))).toBe(false);
  });

  it('stops a model that never closes its code block at max_tokens', async () => {
    const { solve, logged } = setup(['```javascript\nlet x = 1;\n' + 'x += 1;\n'.repeat(200)]);
    const sample = (await solve({ maxTokens: 60 })).samples[0]!;
    expect(sample.finishReason).toBe('length');
    expect(sample.usage.completionTokens).toBe(60);
    expect(logged[0]!.tool_calls).toEqual([]);
    expect(logged[0]!.final_answer).toBeNull();
  });

  it('runs n samples concurrently as one group and streams deltas and segments that add up to the text', async () => {
    const scripts = (i: number) => [`Sample ${i}.\n\`\`\`javascript\nconsole.log(${i} * 10)\n\`\`\`\n`, `\\boxed{${i * 10}}`];
    const { solve, logged, handovers, events } = setup(scripts);
    const result = await solve({ n: 3, gold: '10', seed: 5, tags: { dataset: 'unit' } });
    // The group is handed to the logger whole, in one call, and every record says how big it is.
    expect(handovers).toEqual([3]);
    expect(logged.map((r) => r.group_size)).toEqual([3, 3, 3]);
    expect(result.samples.map((s) => s.correct)).toEqual([false, true, false]);
    expect(result.samples.map((s) => s.reward)).toEqual([-1, 1, -1]);
    expect(new Set(logged.map((r) => r.group_id)).size).toBe(1);
    expect(new Set(logged.map((r) => r.id)).size).toBe(3);
    expect(logged.map((r) => r.sample_index).sort()).toEqual([0, 1, 2]);
    expect(logged[0]!.request).toEqual({ temperature: 1, top_p: 1, max_tokens: 400, seed: 5, tags: { dataset: 'unit' } });
    for (const sample of result.samples) {
      const mine = events.filter((e) => 'sample' in e && e.sample === sample.index);
      const deltas = mine.flatMap((e) => (e.type === 'delta' ? [e.text] : []));
      const segments = mine.flatMap((e) => (e.type === 'segment' ? [e.segment.text] : []));
      expect(deltas.join('')).toBe(sample.text);
      expect(segments.join('')).toBe(sample.text);
    }
    expect(events.filter((e) => e.type === 'sample')).toHaveLength(3);
  });

  it('logs a cancelled rollout as partial, with the tokens sampled before the abort', async () => {
    const { solve, logged } = setup(['Thinking ' + 'step '.repeat(100)], { tokenDelayMs: 2 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 60);
    const sample = (await solve({}, { signal: controller.signal })).samples[0]!;
    expect(sample.finishReason).toBe('cancelled');
    const record = logged[0]!;
    expect(record).toMatchObject({ finish_reason: 'cancelled', partial: true });
    expect(record.response_ids.length).toBeGreaterThan(0);
    expect(record.response_ids.length).toBeLessThan(100);
    expect(parseTrajectoryRecord(record).id).toBe(record.id);
  });

  it('cancels running code when the request is aborted', async () => {
    const { solve, logged } = setup(['```javascript\nwhile (true) {}\n```\n\\boxed{1}']);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    const sample = (await solve({}, { signal: controller.signal })).samples[0]!;
    expect(Date.now() - started).toBeLessThan(3_000); // the sandbox's own timeout is 5 s
    expect(sample.finishReason).toBe('cancelled');
    expect(logged[0]!.turns.map((t) => t.kind)).toEqual(['code']);
  });

  it('rejects bad input with clear messages', async () => {
    const { solve } = setup(['\\boxed{1}']);
    await expect(solve({ problem: '  ' })).rejects.toThrow('problem must be a non-empty string');
    await expect(solve({ problem: 'x'.repeat(40_000) })).rejects.toThrow(/problem is 40000 characters; the limit is 32000/);
    await expect(solve({ n: 0 })).rejects.toThrow(/n must be an integer in \[1, 64\]/);
    await expect(solve({ maxTokens: 0 })).rejects.toThrow(/max_tokens must be an integer/);
  });
});
