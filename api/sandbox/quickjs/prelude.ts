/**
 * JavaScript evaluated inside every fresh QuickJS context before the snippet: the console,
 * `print`, `readline()` and `stdin`. Values are formatted inside the sandbox, so one string
 * per call crosses into the host instead of a handle per value.
 *
 * Two parts, because QuickJS compiles about 10 bytes per microsecond: the small BRIDGE is
 * compiled for every run; the FORMATTER (util.inspect's job) is compiled by the bridge the
 * first time something other than strings and numbers is printed, which a `console.log(answer)`
 * never needs.
 *
 * Kept as source text (not a host function's `.toString()`): tsx, vitest and wrangler all run
 * esbuild with keepNames, which would inject helpers the sandbox does not have.
 *
 * Formatting follows Node's console.log for the values math code prints: strings raw at the
 * top level and quoted inside containers; BigInt as `123n`, like Node; `-0`; arrays, objects,
 * Map, Set, typed arrays, errors (first 10 stack frames); %s %d %i %f %j %o %O %c %%. Unlike
 * Node, always on one line, three levels deep, at most 100 items per container.
 * `print` is the JS shells' print (d8, SpiderMonkey, qjs): String() of each argument, joined by spaces.
 */

/**
 * `(write, stdinText, formatterSource, budget) => { describe, pending }`, compiled for every run, so kept
 * small (compiling it is 40% of a trivial run: 0.16 of 0.4 ms). The host passes `write(fd, text)` as
 * an argument, so neither the bridge nor the formatter is reachable from a global.
 * `describe(thrown)` gives `[summary line, full text]` for an uncaught exception. `pending` holds
 * the output not yet written, `[stdout, stderr]`: output is batched in the sandbox and written in
 * 4 KiB chunks because a call into the host costs about 15 µs, a console.log that stays inside
 * about 1. The host reads what is left in `pending` after the run without running sandbox code,
 * so output survives a timeout. `eval` is captured before the snippet can replace it.
 * At most `budget` UTF-16 units cross into the host over the whole run, the last call cut to fit:
 * the host stops a run well before that much output (a flood), and one `print('x'.repeat(4e8))`
 * must not become a 400 MB host string (nor, with the wasm heap full, silently an empty one).
 */
export const BRIDGE_SOURCE = String.raw`(function (write, stdinText, formatterSource, budget) {
  'use strict';
  const evaluate = eval;
  let formatter;
  const lib = () => formatter ??= evaluate(formatterSource)(emit);
  const pending = ['', ''];
  function emit(fd, text) {
    if (budget <= 0) return;
    if (text.length >= budget) {
      // Not between the halves of a surrogate pair.
      const end = text.charCodeAt(budget - 1) >= 0xd800 && text.charCodeAt(budget - 1) <= 0xdbff ? budget - 1 : budget;
      text = text.slice(0, end);
      budget = 0;
    } else {
      budget -= text.length;
    }
    if ((pending[fd - 1] += text).length >= 4096 || budget === 0) {
      write(fd, pending[fd - 1]);
      pending[fd - 1] = '';
    }
  }
  function format(args) {
    let text = '';
    for (let i = 0; i < args.length; i++) {
      const v = args[i], t = typeof v;
      if (t === 'string' ? i === 0 && v.includes('%') : t !== 'bigint' && (t !== 'number' || Object.is(v, -0))) return lib().format(args);
      text += (i ? ' ' : '') + (t === 'bigint' ? v + 'n' : v);
    }
    return text;
  }
  // The line end is emitted apart, and print's arguments one by one: a huge string is never copied whole.
  const line = (fd) => (...args) => { emit(fd, format(args)); emit(fd, '\n'); };
  const console = { log: line(1), info: line(1), debug: line(1), table: line(1), error: line(2), warn: line(2), trace: line(2) };
  for (const name of ['dir', 'assert', 'count', 'time', 'timeEnd']) console[name] = (...args) => lib()[name](...args);
  let cursor = 0;
  function readline() {
    if (cursor >= stdinText.length) return null;
    let end = stdinText.indexOf('\n', cursor);
    if (end < 0) end = stdinText.length;
    const text = stdinText.slice(cursor, end);
    cursor = end + 1;
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  }
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  define('console', console);
  define('print', (...args) => {
    for (let i = 0; i < args.length; i++) {
      if (i) emit(1, ' ');
      emit(1, String(args[i]));
    }
    emit(1, '\n');
  });
  define('readline', readline);
  define('stdin', stdinText);
  return { pending, describe: (thrown) => lib().describe(thrown) };
})`;

/**
 * An expression giving `(emit) => { format, inspect, describe, dir, assert, count, time, timeEnd }`:
 * util.inspect's job and the rarely used console methods, compiled on first use.
 */
export const FORMATTER_SOURCE = String.raw`(function (emit) {
  'use strict';
  const MAX_DEPTH = 2;
  const MAX_ITEMS = 100;
  const MAX_FRAMES = 10;
  const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

  function quote(s) {
    return "'" + s.replace(/[\\']/g, '\\$&').replace(/\n/g, '\\n') + "'";
  }

  function functionLabel(f) {
    const isClass = Function.prototype.toString.call(f).startsWith('class');
    if (isClass) return '[class' + (f.name ? ' ' + f.name : '') + ']';
    return '[Function' + (f.name ? ': ' + f.name : ' (anonymous)') + ']';
  }

  function errorText(e) {
    const head = String(e.name) + (e.message === undefined || e.message === '' ? '' : ': ' + e.message);
    if (typeof e.stack !== 'string' || e.stack === '') return head;
    // QuickJS records every frame; like Node, show the innermost ten.
    const frames = e.stack.replace(/\n$/, '').split('\n');
    if (frames.length > MAX_FRAMES) frames.splice(MAX_FRAMES, frames.length, '    ... ' + (frames.length - MAX_FRAMES) + ' more frames');
    return head + '\n' + frames.join('\n');
  }

  function prefix(v, tag) {
    const proto = Object.getPrototypeOf(v);
    if (proto === null) return '[' + tag + ': null prototype] ';
    const name = proto.constructor && proto.constructor.name;
    return name && name !== tag ? name + ' ' : '';
  }

  function list(items, open, close) {
    return items.length === 0 ? open + close : open + ' ' + items.join(', ') + ' ' + close;
  }

  function property(v, key, depth, seen) {
    const d = Object.getOwnPropertyDescriptor(v, key);
    const name = typeof key === 'symbol' ? '[' + key.toString() + ']' : IDENTIFIER.test(key) ? key : quote(key);
    if (d && d.get) return name + ': ' + (d.set ? '[Getter/Setter]' : '[Getter]');
    if (d && d.set) return name + ': [Setter]';
    return name + ': ' + inspect(v[key], depth + 1, seen);
  }

  function arrayItems(v, depth, seen) {
    const items = [];
    let holes = 0;
    const flushHoles = () => {
      if (holes > 0) items.push('<' + holes + ' empty item' + (holes > 1 ? 's' : '') + '>');
      holes = 0;
    };
    const shown = Math.min(v.length, MAX_ITEMS);
    for (let i = 0; i < shown; i++) {
      if (Object.prototype.hasOwnProperty.call(v, i)) {
        flushHoles();
        items.push(inspect(v[i], depth + 1, seen));
      } else holes++;
    }
    flushHoles();
    if (v.length > MAX_ITEMS) items.push('... ' + (v.length - MAX_ITEMS) + ' more item' + (v.length - MAX_ITEMS > 1 ? 's' : ''));
    return items;
  }

  function entries(iterable, show) {
    const items = [];
    for (const entry of iterable) {
      if (items.length === MAX_ITEMS) { items.push('...'); break; }
      items.push(show(entry));
    }
    return items;
  }

  function inspectObject(v, depth, seen) {
    if (v instanceof Error) return depth === 0 ? errorText(v) : '[' + String(v.name) + ': ' + v.message + ']';
    if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (v instanceof Promise) return 'Promise {}';
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor.name;
      return depth > MAX_DEPTH ? '[' + name + ']' : name + '(' + v.length + ') ' + list(arrayItems(v, depth, seen), '[', ']');
    }
    if (Array.isArray(v)) return depth > MAX_DEPTH ? '[Array]' : prefix(v, 'Array') + list(arrayItems(v, depth, seen), '[', ']');
    if (v instanceof Map) {
      if (depth > MAX_DEPTH) return '[Map]';
      return 'Map(' + v.size + ') ' + list(entries(v, ([key, value]) => inspect(key, depth + 1, seen) + ' => ' + inspect(value, depth + 1, seen)), '{', '}');
    }
    if (v instanceof Set) {
      if (depth > MAX_DEPTH) return '[Set]';
      return 'Set(' + v.size + ') ' + list(entries(v, (value) => inspect(value, depth + 1, seen)), '{', '}');
    }
    const keys = Object.keys(v).concat(Object.getOwnPropertySymbols(v).filter((s) => Object.prototype.propertyIsEnumerable.call(v, s)));
    const label = prefix(v, 'Object');
    if (depth > MAX_DEPTH) return keys.length === 0 ? label + '{}' : '[' + (label.trim() || 'Object') + ']';
    const items = keys.slice(0, MAX_ITEMS).map((key) => property(v, key, depth, seen));
    if (keys.length > MAX_ITEMS) items.push('... ' + (keys.length - MAX_ITEMS) + ' more');
    return label + list(items, '{', '}');
  }

  function inspect(v, depth = 0, seen = []) {
    switch (typeof v) {
      case 'string': return depth === 0 ? v : quote(v);
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint': return String(v) + 'n';
      case 'symbol': return v.toString();
      case 'undefined': return 'undefined';
      case 'boolean': return String(v);
      case 'function': return functionLabel(v);
    }
    if (v === null) return 'null';
    if (seen.includes(v)) return '[Circular]';
    seen.push(v);
    try {
      return inspectObject(v, depth, seen);
    } finally {
      seen.pop();
    }
  }

  // console.log's printf-style directives, applied when the first argument is a string.
  function format(args) {
    let rest = args;
    let head = '';
    if (typeof args[0] === 'string' && args[0].includes('%')) {
      let i = 1;
      head = args[0].replace(/%([sdifjoOc%])/g, (match, d) => {
        if (d === '%') return '%';
        if (i >= args.length) return match;
        const a = args[i++];
        switch (d) {
          case 's': return typeof a === 'string' ? a : inspect(a, 1);
          case 'd': return typeof a === 'bigint' ? a + 'n' : typeof a === 'object' && a !== null ? 'NaN' : inspect(Number(a));
          case 'i': return typeof a === 'bigint' ? a + 'n' : String(parseInt(a));
          case 'f': return String(parseFloat(a));
          case 'j': try { return JSON.stringify(a); } catch (e) { return '[Circular]'; }
          case 'c': return '';
          default: return inspect(a, 1);
        }
      });
      rest = args.slice(i);
      if (rest.length === 0) return head;
      head += ' ';
    }
    return head + rest.map((a) => inspect(a)).join(' ');
  }

  function describe(thrown) {
    if (thrown instanceof Error) return [String(thrown.name) + ': ' + thrown.message, errorText(thrown)];
    const text = 'Uncaught ' + inspect(thrown, 1);
    return [text, text];
  }

  const timers = new Map();
  const counts = new Map();
  return {
    format,
    inspect,
    describe,
    dir(v) { emit(1, inspect(v) + '\n'); },
    assert(ok, ...args) { if (!ok) emit(2, 'Assertion failed' + (args.length ? ': ' + format(args) : '') + '\n'); },
    count(label = 'default') { counts.set(label, (counts.get(label) || 0) + 1); emit(1, label + ': ' + counts.get(label) + '\n'); },
    time(label = 'default') { timers.set(label, Date.now()); },
    timeEnd(label = 'default') { if (timers.has(label)) emit(1, label + ': ' + (Date.now() - timers.get(label)) + 'ms\n'); timers.delete(label); },
  };
})`;
