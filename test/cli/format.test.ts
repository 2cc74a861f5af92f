import { formatHealth, formatRtt, formatUptime } from '../../lib/cli/commands/health';
import { formatWatchLine, watchLine } from '../../lib/cli/commands/watch';

describe('health lines', () => {
  test('uptime and rtt', () => {
    expect([0, 42.9, 60, 187, 3599, 3600, 7500, 86_399, 90_000, 300_000].map(formatUptime)).toEqual([
      '0s', '42s', '1m00s', '3m07s', '59m59s', '1h00m', '2h05m', '23h59m', '1d01h', '3d11h',
    ]);
    expect([0.4, 0.456, 12.34, 150.4].map(formatRtt)).toEqual(['0.40ms', '0.46ms', '12.3ms', '150ms']);
  });

  test('one aligned line per node, sorted by node id; failures carry their detail', () => {
    const lines = formatHealth([
      { node: 'greeter-bbb', address: '127.0.0.1:40001', version: '1', status: 'timeout', detail: 'no answer within 1000 ms' },
      { node: 'greeter-a', address: '127.0.0.1:5', version: '1', status: 'serving', inFlight: 3, uptime: 12.5, rtt: 0.4 },
      { node: 'greeter-c', address: '127.0.0.1:40003', version: '1', status: 'draining', inFlight: 1, uptime: 61, rtt: 1.25 },
    ]);
    expect(lines).toEqual([
      'greeter-a    127.0.0.1:5      serving      inflight 3  uptime 12s  rtt 0.40ms',
      'greeter-bbb  127.0.0.1:40001  timeout      no answer within 1000 ms',
      'greeter-c    127.0.0.1:40003  draining     inflight 1  uptime 1m01s  rtt 1.25ms',
    ]);
  });
});

describe('watch lines', () => {
  const record = { name: 'greeter', version: '1.0.0', metadata: {}, endpoints: [], nodes: [] };
  const node = { id: 'greeter-abc', address: '127.0.0.1:1234', metadata: {} };
  const at = new Date('2025-01-02T03:04:05.678Z');

  test('text and JSON forms', () => {
    expect(formatWatchLine(watchLine('create', record, node, at))).toBe('create greeter 1.0.0 node greeter-abc 127.0.0.1:1234');
    expect(formatWatchLine(watchLine('delete', record, undefined, at))).toBe('delete greeter 1.0.0');
    expect(watchLine('exists', record, node, at)).toEqual({
      action: 'exists', service: 'greeter', version: '1.0.0', node: 'greeter-abc', address: '127.0.0.1:1234', at: '2025-01-02T03:04:05.678Z',
    });
  });
});
