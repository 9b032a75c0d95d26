export interface ThroughputPoint {
  connections: number;
  /** Aggregate bytes per second. */
  throughput: number;
}

/** Share of the best aggregate throughput that counts as "reaching" it. */
export const KNEE_FRACTION = 0.9;

/** The smallest connection count whose throughput reaches KNEE_FRACTION of the best one. */
export function findKnee(points: readonly ThroughputPoint[]): number {
  const best = Math.max(...points.map((p) => p.throughput));
  const reaching = points.filter((p) => p.throughput >= KNEE_FRACTION * best);
  return Math.min(...reaching.map((p) => p.connections));
}

/**
 * One sentence a person can act on: how many connections are worth opening. `moreRefused`: the
 * server refused the next count, so more connections are not worth trying.
 */
export function kneeSentence(points: readonly ThroughputPoint[], moreRefused = false): string {
  const knee = findKnee(points);
  const best = Math.max(...points.map((p) => p.throughput));
  const largest = Math.max(...points.map((p) => p.connections));
  const atKnee = points.find((p) => p.connections === knee)!;
  const share = Math.round((100 * atKnee.throughput) / best);
  const plural = knee === 1 ? 'connection reaches' : 'connections reach';
  if (knee === largest && points.length > 1) {
    return `${knee} ${plural} the best throughput${moreRefused ? '.' : ' and it may still grow: try more connections.'}`;
  }
  return `${knee} ${plural} ${share}% of the best; more add little.`;
}
