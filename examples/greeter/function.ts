import { createFunction } from '../../lib';
import { Greeter } from './greeter';

// A Function: registers, serves its first request, deregisters and exits 0.
async function main(): Promise<void> {
  const fn = createFunction({ name: 'greeter', version: '1.0.0' });
  fn.handle(new Greeter());
  fn.on('afterStart', () => console.log(`greeter function waiting for one request on ${fn.address}`));
  await fn.run();
}

void main();
