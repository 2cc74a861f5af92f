import * as amqp from 'amqplib';
import { deadLetterQueueName, groupQueueName } from '../../../plugins/rabbitmq';
import { describeEngine, ENGINE_ADDRESSES } from '../../helpers/engines';
import { Child, killAll } from '../../helpers/process';
import { expectPubsubOutput } from '../../helpers/examples';

/**
 * The greeter pub/sub example (three child processes and a publishing parent) with `--broker=rabbitmq`: the queue
 * group "workers" becomes one durable queue the two workers share, the auditor gets a queue of its own.
 */

const WORKERS_QUEUE = groupQueueName('phobos', 'workers', 'user.created');

/** The example's group queue is durable and named the same on every run: start and end without leftovers. */
async function dropWorkersQueue(): Promise<void> {
  const conn = await amqp.connect(ENGINE_ADDRESSES.rabbitmq);
  try {
    const ch = await conn.createChannel();
    await ch.deleteQueue(WORKERS_QUEUE);
    await ch.deleteQueue(deadLetterQueueName(WORKERS_QUEUE));
  } finally {
    await conn.close();
  }
}

describeEngine('rabbitmq', 'greeter pub/sub example on rabbitmq', () => {
  beforeAll(dropWorkersQueue);
  afterAll(async () => {
    await killAll();
    await dropWorkersQueue();
  });

  test('--broker=rabbitmq: the queue group splits the events, the auditor gets them all', async () => {
    const pubsub = new Child('examples/greeter/pubsub.js', [
      '--broker=rabbitmq',
      `--broker_address=${ENGINE_ADDRESSES.rabbitmq}`,
      '--registry=memory',
      '--log_level=warn',
    ]);
    const { code } = await pubsub.exit(30_000);
    const out = pubsub.lines.join('\n');
    expect(pubsub.errLines.join('\n')).not.toMatch(/error/i);
    expect(code).toBe(0);
    expectPubsubOutput(out, 'both');
  });
});
