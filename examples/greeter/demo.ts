import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * `npm start`: the greeter on the embedded defaults, as two processes. Starts the server, waits until it says it is
 * listening, runs the client (which finds the server through mDNS on loopback), then stops the server with SIGTERM.
 */
async function main(): Promise<void> {
  const flags = process.argv.slice(2);
  const server = spawn(process.execPath, [join(__dirname, 'server.js'), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => server.exitCode === null && server.kill('SIGTERM');
  process.on('exit', stop);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 10 s')), 10_000);
    server.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(prefixed('server', chunk));
      if (!chunk.toString().includes('listening')) return;
      clearTimeout(timer);
      resolve();
    });
    server.on('exit', (code) => reject(new Error(`the server exited with code ${code}`)));
  });
  const client = spawn(process.execPath, [join(__dirname, 'client.js'), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  client.stdout.on('data', (chunk: Buffer) => process.stdout.write(prefixed('client', chunk)));
  const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
  stop();
  await new Promise((resolve) => server.once('exit', resolve));
  process.exitCode = code ?? 1;
}

function prefixed(who: string, chunk: Buffer): string {
  return chunk
    .toString()
    .split('\n')
    .filter((line) => line)
    .map((line) => `[${who}] ${line}\n`)
    .join('');
}

main().catch((err) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exit(1);
});
