import { describe, expect, it } from 'vitest';
import { executableLanguage, scanFences, stopStringsFor } from './fences.ts';

describe('scanFences', () => {
  it('tracks where the text ends: outside a block, on an info line, inside a block', () => {
    expect(scanFences('Let me think.').state).toBe('text');
    expect(scanFences('Let me think.\n```').state).toBe('info');
    expect(scanFences('Let me think.\n```pyth').state).toBe('info');
    expect(scanFences('Let me think.\n```python\nx = 1').state).toBe('body');
    expect(stopStringsFor('info')).toEqual(['\n']);
    expect(stopStringsFor('body')).toEqual(['```']);
  });

  it('reports the first executable block that closes, with its exact code', () => {
    const text = 'Try:\n```python\nprint("a")\nprint(1)\n```\nafter';
    expect(scanFences(text)).toEqual({
      state: 'text',
      event: { type: 'code', start: 5, end: text.indexOf('\nafter'), language: 'python', code: 'print("a")\nprint(1)' },
    });
    expect(scanFences('```js\n```').event).toMatchObject({ type: 'code', language: 'javascript', code: '' });
  });

  it('treats backticks that are not at a line start as code or text', () => {
    expect(scanFences('Inline ```x``` here').state).toBe('text');
    expect(scanFences('```python\nprint("```")\n').state).toBe('body');
    expect(scanFences('```python\nprint("```")\n```').event).toMatchObject({ code: 'print("```")' });
  });

  it('passes over blocks in other languages and needs a closing fence as long as the opening one', () => {
    expect(scanFences('```latex\nx^2\n```\nok').state).toBe('text');
    expect(scanFences('```latex\nx^2\n```\nok').event).toBeUndefined();
    expect(scanFences('````python\n```\nx\n````').event).toMatchObject({ code: '```\nx' });
    expect(scanFences('   ```python\n1\n   ```').event).toMatchObject({ code: '1' });
  });

  it('flags an output block the model opens itself once its info line is complete', () => {
    expect(scanFences('So:\n```output').state).toBe('info');
    expect(scanFences('So:\n```output\n')).toEqual({ state: 'body', event: { type: 'output', start: 4, end: 14 } });
  });

  it('knows the executable languages by their usual names', () => {
    expect(['python', 'py', 'Python3', 'javascript', 'js', 'node', 'latex', '', 'output'].map(executableLanguage)).toEqual([
      'python', 'python', 'python', 'javascript', 'javascript', 'javascript', undefined, undefined, undefined,
    ]);
    expect(executableLanguage('toString')).toBeUndefined();
  });
});
