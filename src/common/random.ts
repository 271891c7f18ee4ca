// Random integers for decisions that Envoy takes from a random uint64 (a stream's id, a
// weighted cluster's pick, a runtime fraction). V8's Math.random() has 52 random bits
// (xorshift128+ into a double's mantissa), so `Math.floor(Math.random() * 2 ** 53)` is always
// even: `% 100` of it would never be odd. Two draws give 53 uniform bits.

/** A uniform integer in [0, 2^53). */
export function randomU53(): number {
  return Math.floor(Math.random() * 0x20_0000) * 0x1_0000_0000 + Math.floor(Math.random() * 0x1_0000_0000);
}
