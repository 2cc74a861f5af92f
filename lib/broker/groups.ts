/**
 * Queue-group routing shared by the built-in brokers: subscribers without a queue each get every event; within a
 * queue group each event goes to one member, chosen round-robin.
 */
export interface Member {
  queue?: string;
}

export function route<M extends Member>(members: readonly M[], turns: Map<string, number>): M[][] {
  const out: M[][] = [];
  const groups = new Map<string, M[]>();
  for (const m of members) {
    if (!m.queue) out.push([m]);
    else {
      let g = groups.get(m.queue);
      if (!g) groups.set(m.queue, (g = []));
      g.push(m);
    }
  }
  for (const [queue, g] of groups) {
    // Rotate so the first candidate changes per event; the rest are fall-backs if delivery to it fails.
    const turn = turns.get(queue) ?? 0;
    turns.set(queue, turn + 1);
    const start = turn % g.length;
    out.push([...g.slice(start), ...g.slice(0, start)]);
  }
  return out;
}
