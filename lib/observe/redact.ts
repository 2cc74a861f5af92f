/**
 * Key-based redaction for log lines: a value under a sensitive key is replaced wherever it sits (metadata, headers,
 * a nested config, an error's properties), since pino's own path redaction only reaches the paths it is told and
 * secrets travel under many parents. Keys compare case-, dash- and underscore-insensitively (`Authorization`,
 * `x-api-key`, `API_KEY`). The input is never changed: objects holding a secret are copied along the path to it.
 */

export const CENSOR = '[redacted]';

/** Censored unless the application says otherwise; extend it with ServiceOptions.sensitive. */
export const SENSITIVE_KEYS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'api_key',
  'apikey',
  'x-api-key',
  'private_key',
];

/** Deeper than this a log object is left as it is (and pino still bounds what it prints). */
const MAX_DEPTH = 8;

export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

export type Censor = <T>(value: T) => T;

/** A censor for the default keys plus `extra`. */
export function keyCensor(extra: readonly string[] = []): Censor {
  const keys = new Set([...SENSITIVE_KEYS, ...extra].map(normalizeKey));
  const walk = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const v = walk(value[i], depth + 1);
        if (v !== value[i]) (out ??= value.slice())[i] = v;
      }
      return out ?? value;
    }
    if (!isPlain(value)) return value;
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      const c = keys.has(normalizeKey(key)) ? CENSOR : walk(v, depth + 1);
      if (c !== v) (out ??= copyOf(value))[key] = c;
    }
    return out ?? value;
  };
  return <T>(value: T) => walk(value, 0) as T;
}

/**
 * Objects whose JSON is their own enumerable properties: plain records, and also class instances such as errors
 * logged under a key other than `err` (an HTTP client's error carries its request headers). Those with a toJSON
 * (Date, Buffer) print something else, and Maps, Sets and typed arrays print no keys, so they are left alone.
 */
function isPlain(value: object): boolean {
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  return !(value instanceof Map || value instanceof Set || ArrayBuffer.isView(value));
}

/** A shallow copy that prints the same: an Error stays an Error (message and stack are not enumerable). */
function copyOf(value: object): Record<string, unknown> {
  if (!(value instanceof Error)) return { ...(value as Record<string, unknown>) };
  const copy = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(value)) Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(value, key)!);
  return copy;
}
