/** The item whose `key` is the median (the upper middle one for an even count). */
export function middleBy<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)] as T;
}

/** The median of some numbers (the upper middle one for an even count). */
export function middle(values: readonly number[]): number {
  return middleBy(values, (value) => value);
}
