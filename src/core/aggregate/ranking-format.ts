/** Most hosts one ranking shows (`kurado top --limit`, the web's `limit=`). */
export const MAX_RANKING_ROWS = 1000;

/** A ranking value for people: 2 decimals for small numbers, k/M/G above a thousand. */
export function formatRankingValue(value: number, unit: string): string {
  const units = ['', 'k', 'M', 'G', 'T', 'P'];
  let scaled = value;
  let index = 0;
  if (unit !== '%') {
    while (Math.abs(scaled) >= 1000 && index < units.length - 1) {
      scaled /= 1000;
      index++;
    }
  }
  const digits = Math.abs(scaled) >= 100 ? 0 : Math.abs(scaled) >= 10 ? 1 : 2;
  const suffix = unit === '%' ? '%' : unit === '' ? units[index] : ` ${units[index]}${unit}`;
  return `${scaled.toFixed(digits)}${suffix}`;
}
