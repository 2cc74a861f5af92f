/**
 * What examples/greeter/pubsub.js must print on any broker: six events published, the auditor (no queue) got all six,
 * the "workers" queue group handled each once. `spread: 'both'` also asks that both workers got some, which holds
 * for brokers that hand queue members events in turn; NATS picks a member at random, so one worker may get all six.
 */
export function expectPubsubOutput(out: string, spread: 'both' | 'any'): void {
  expect(out).toContain('published 6 events');
  expect(out).toContain('auditor (no queue) handled 6');
  const split = /workers \(queue "workers"\) handled 6: (\d+)(?: \+ (\d+))?$/m.exec(out);
  expect(split).not.toBeNull();
  const [a, b] = [Number(split![1]), Number(split![2] ?? 0)];
  expect(a + b).toBe(6);
  if (spread === 'both') expect(Math.min(a, b)).toBeGreaterThan(0);
}
