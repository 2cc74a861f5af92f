import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { ENGINE_ADDRESSES } from '../../helpers/engines';

/** Shared bits of the redis plugin tests: a key prefix per test file, and removing its keys afterwards. */

export const REDIS = ENGINE_ADDRESSES.redis;

/** A prefix no other run uses, so suites sharing the server never see each other's keys or channels. */
export function uniquePrefix(what: string): string {
  return `phobos-test-${what}-${randomBytes(4).toString('hex')}`;
}

/** A plain client for inspecting the server from a test. */
export function inspector(address = REDIS): Redis {
  const client = new Redis(`redis://${address}`, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

/** Deletes every key under `prefix` (streams of durable groups and dead letters stay otherwise). */
export async function deleteKeys(prefix: string, address = REDIS): Promise<number> {
  const client = inspector(address);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}
