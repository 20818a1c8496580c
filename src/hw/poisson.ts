/**
 * Poisson-distributed counts from a seeded stream: how many events of a Poisson process of rate r fall
 * in an interval t is Poisson(r·t). The speculation model draws its bulk counts with it.
 *
 * Small means: Knuth's multiplication method. Means ≥ 10: Hörmann's transformed rejection with
 * squeeze (PTRS, "The transformed rejection method for generating Poisson random variables",
 * Insurance: Mathematics and Economics 12, 1993), as NumPy's random_poisson_ptrs() implements it —
 * exact, O(1) expected draws whatever the mean.
 */
import type { RandomStream } from "../sim/prng.ts";

const LOGGAM_COEFF = [
  8.333333333333333e-2, -2.777777777777778e-3, 7.936507936507937e-4, -5.952380952380952e-4,
  8.417508417508418e-4, -1.917526917526918e-3, 6.41025641025641e-3, -2.955065359477124e-2,
  1.796443723688307e-1, -1.3924322169059,
];

/** log Γ(x) for x > 0 (NumPy's random_loggam: Stirling's series, shifted up below 7). */
export function logGamma(x: number): number {
  if (x === 1 || x === 2) return 0;
  let x0 = x;
  let n = 0;
  if (x <= 7) {
    n = Math.floor(7 - x);
    x0 = x + n;
  }
  const x2 = 1 / (x0 * x0);
  let gl0 = LOGGAM_COEFF[9];
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + LOGGAM_COEFF[k];
  let gl = gl0 / x0 + 0.5 * Math.log(2 * Math.PI) + (x0 - 0.5) * Math.log(x0) - x0;
  for (let k = 1; k <= n; k++) {
    gl -= Math.log(x0 - 1);
    x0 -= 1;
  }
  return gl;
}

/** A uniform double in [0, 1) from two 32-bit draws (PTRS needs more than 32 bits near its tails). */
function uniform(rng: RandomStream): number {
  return (rng.u32() * 0x100000000 + rng.u32()) / 0x10000000000000000;
}

/** A Poisson(mean) count; 0 without a draw for a mean of 0. */
export function poisson(rng: RandomStream, mean: number): number {
  if (!(mean > 0)) return 0;
  if (mean < 10) {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = uniform(rng);
    while (p > limit) {
      k++;
      p *= uniform(rng);
    }
    return k;
  }
  const slam = Math.sqrt(mean);
  const loglam = Math.log(mean);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const U = uniform(rng) - 0.5;
    const V = uniform(rng);
    const us = 0.5 - Math.abs(U);
    const k = Math.floor(((2 * a) / us + b) * U + mean + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (
      Math.log(V) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
      -mean + k * loglam - logGamma(k + 1)
    )
      return k;
  }
}
