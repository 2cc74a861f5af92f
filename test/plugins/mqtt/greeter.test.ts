import { describeEngine, EngineInstance } from '../../helpers/engines';
import { Child, killAll } from '../../helpers/process';
import { expectPubsubOutput } from '../../helpers/examples';

/** The greeter pub/sub example (three subscriber processes and a publisher) with `--broker=mqtt`, on a private mosquitto. */
describeEngine('mqtt', 'greeter pub/sub example on the mqtt broker', () => {
  let mosquitto: EngineInstance;

  beforeAll(async () => {
    mosquitto = await EngineInstance.start('mqtt');
  }, 30_000);

  afterAll(async () => {
    await killAll();
    await mosquitto?.destroy();
  });

  test('the queue group splits the events, the subscriber without a queue gets them all', async () => {
    const pubsub = new Child('examples/greeter/pubsub.js', ['--broker=mqtt', `--broker_address=${mosquitto.address}`, '--registry=memory']);
    const { code } = await pubsub.exit(20_000);
    const out = pubsub.lines.join('\n');
    expect(code).toBe(0);
    expectPubsubOutput(out, 'both');
  }, 30_000);
});
