/** What the phobos benches share: medians across rounds, and the closed loop that drives calls. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * `inFlight` callers each calling `call` back to back until `seconds` have passed; returns every call's latency in
 * ms (unsorted) and the seconds the loop really took.
 */
export async function closedLoop(inFlight: number, seconds: number, call: () => Promise<unknown>): Promise<{ latencies: number[]; elapsed: number }> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call();
      latencies.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { latencies, elapsed: (performance.now() - t0) / 1000 };
}
