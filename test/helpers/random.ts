/** Deterministic PRNG (mulberry32) and random tensors for tests. */
import { Tensor } from '../../lib/tensor.js';
import { mulberry32 } from '../../lib/random.js';

/** Deterministic uniform [0, 1) generator (the library's own mulberry32). */
export const rng = mulberry32;

export function randn(r: () => number, shape: number[], scale = 1, dtype: 'float32' | 'float64' = 'float32'): Tensor<Float32Array> | Tensor<Float64Array> {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = (r() * 2 - 1) * scale;
  return new Tensor(d, shape) as Tensor<Float32Array> | Tensor<Float64Array>;
}

export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let md = 0;
  let mr = 0;
  for (let i = 0; i < a.length; i++) {
    md = Math.max(md, Math.abs((a[i] as number) - (b[i] as number)));
    mr = Math.max(mr, Math.abs(b[i] as number));
  }
  return mr > 0 ? md / mr : md;
}
