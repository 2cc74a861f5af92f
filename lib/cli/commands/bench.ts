import { parseDuration } from '../../flags';
import { CliError, wholeNumber } from '../args';
import { formatSummary, progressBar, progressText, summarize } from '../bench-report';
import { printJson, type Command } from '../command';
import { runLoad } from '../load';
import { parseJson } from './basic';

/**
 * `phobos bench <service> <endpoint> [json]`: a closed-loop load test through the ordinary client (selector, fail
 * modes, codec), with a live progress display on stderr and a latency summary on stdout.
 */
export const bench: Command = {
  synopsis: 'bench <service> <endpoint> [json]',
  summary: 'load test: concurrent callers for a duration or a count; req/s, latency percentiles, errors by code',
  longRunning: true,
  options: {
    concurrency: { type: 'string', short: 'c', value: 'n', help: 'callers, each calling again once answered (16)' },
    duration: { type: 'string', short: 'd', value: 'duration', help: 'how long to run: 10s, 500ms, 2m (10s unless -n is given)' },
    count: { type: 'string', short: 'n', value: 'n', help: 'stop after this many calls' },
    json: { type: 'boolean', help: 'print the summary as JSON' },
  },
  details: [
    'Progress goes to stderr (a live bar on a terminal, a line a second otherwise); the summary to stdout.',
    'Ctrl-c ends the run early: the calls in flight finish and the summary covers what was done.',
    'Latency counts every call, failed ones included. --codec picks the codec, --timeout the deadline of each call.',
    'Exit code 1 when no call succeeded (or the service is unknown), 0 otherwise.',
  ],
  async run({ args, options, service, io, interrupted }) {
    const [name, endpoint, body] = args;
    if (!name || !endpoint) throw new CliError("bench needs <service> <endpoint> ['<json>']");
    const request = parseJson(body, 'the request');
    const concurrency = wholeNumber('concurrency', options.concurrency, 16);
    const count = options.count === undefined ? undefined : wholeNumber('count', options.count, 0);
    const durationMs =
      typeof options.duration === 'string' ? parseDuration('--duration', options.duration, 1000) : count === undefined ? 10_000 : undefined;

    const svc = service();
    // Find the service before the clock starts: an unknown name is an error, and a registry lookup is not latency.
    if ((await svc.registry.getService(name)).length === 0) throw new CliError(`service ${name} not found`);
    await svc.selector.select(name, { endpoint });

    const tty = io.err.isTTY === true;
    let lastLine = 0;
    const result = await runLoad({
      call: () => svc.client.call(name, endpoint, request),
      concurrency,
      durationMs,
      count,
      signal: interrupted,
      tickMs: tty ? 100 : 1000,
      onTick: (p) => {
        if (tty) io.err.write(`\r${progressBar(p)}\x1b[K`);
        else if (p.elapsedMs - lastLine >= 900) {
          lastLine = p.elapsedMs;
          io.err.write(`${progressText(p)}\n`);
        }
      },
    });
    if (tty) io.err.write('\n');

    const summary = summarize({ service: name, endpoint, concurrency, ...result });
    if (options.json === true) printJson(io, summary);
    else io.out.write(formatSummary(summary));
    return summary.ok === 0 ? 1 : 0;
  },
};
