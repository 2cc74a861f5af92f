import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ENGINE_ADDRESSES } from '../../helpers/engines';

/** A raw NATS connection for tests that look at the engine directly (stream state, malformed messages). */
export function rawConnection(address = ENGINE_ADDRESSES.nats): Promise<NatsConnection> {
  return connect({ servers: address, timeout: 2000 });
}

/** Deletes the JetStream streams the tests made (topics starting `conf.`), so runs leave nothing behind. */
export async function deleteTestStreams(address = ENGINE_ADDRESSES.nats): Promise<number> {
  const nc = await rawConnection(address);
  try {
    const jsm = await jetstreamManager(nc);
    let deleted = 0;
    for await (const s of jsm.streams.list()) {
      if (!s.config.name.startsWith('PHOBOS_conf_')) continue;
      await jsm.streams.delete(s.config.name);
      deleted++;
    }
    return deleted;
  } finally {
    await nc.close();
  }
}
