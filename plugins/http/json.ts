import { gatewayError } from './errors';
import { syntaxErrorPosition } from './json-position';

/**
 * Request bodies from the outside world are parsed so that they cannot pollute prototypes. JSON.parse itself makes
 * `__proto__` an own property (harmless by itself), but handlers, validators and merge helpers downstream may copy
 * such keys with plain assignment, where `__proto__`, or `constructor.prototype`, reaches Object.prototype. So the
 * three keys are dropped from every object before any Phobos code or handler sees the value: no legitimate request
 * needs them, and a key that is not there cannot be misused. Bodies that cannot contain them (the common case) are
 * parsed without a reviver, at JSON.parse's full speed; `\u` escapes could spell them, so those take the slow path too.
 */

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAY_HOLD_UNSAFE = /__proto__|constructor|prototype|\\u/;

function dropUnsafe(this: unknown, key: string, value: unknown): unknown {
  if (UNSAFE_KEYS.has(key) && !Array.isArray(this)) return undefined;
  return value;
}

/** Parses JSON text; a syntax error is a 400 naming line, column and position. Empty text is `undefined`. */
export function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return MAY_HOLD_UNSAFE.test(text) ? JSON.parse(text, dropUnsafe) : JSON.parse(text);
  } catch (err) {
    throw gatewayError(400, describeSyntaxError(text, (err as Error).message));
  }
}

function describeSyntaxError(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  const position = m ? Number(m[1]) : syntaxErrorPosition(text);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  // V8's message may quote the text; keep it short.
  const why = message.replace(/\s*\(line \d+ column \d+\)/, '').slice(0, 200);
  return `invalid JSON at line ${line}, column ${position - lineStart + 1} (position ${position}): ${why}`;
}

/**
 * The same rule for values other codecs decoded (msgpack maps decode to plain objects): removes the unsafe keys from
 * every object in place. Iterative, so deeply nested input cannot exhaust the stack.
 */
export function dropUnsafeKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const pending: object[] = [value];
  const seen = new Set<object>();
  while (pending.length) {
    const o = pending.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    if (ArrayBuffer.isView(o)) continue;
    if (!Array.isArray(o)) for (const k of UNSAFE_KEYS) if (Object.prototype.hasOwnProperty.call(o, k)) delete (o as Record<string, unknown>)[k];
    for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) pending.push(v);
  }
  return value;
}
