/**
 * Relative error as `rnnx verify` defines it: max|got − expected| / max|expected| over one tensor
 * (the absolute error when the expectation is all zero). NaN anywhere counts as Infinity.
 */
export function relErr(got: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (got.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const e = expected[i] as number;
    const d = Math.abs(g - e);
    if (Number.isNaN(d)) return Infinity;
    if (d > maxDiff) maxDiff = d;
    const a = Math.abs(e);
    if (a > maxRef) maxRef = a;
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}
