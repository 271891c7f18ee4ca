// UUID v4 strings for x-request-id. crypto.randomUUID() refills its entropy every 128 ids and
// formats through several helpers; on the request path a bigger batch (4096 ids per
// randomFillSync) and a byte->hex table halve the cost. Same randomness source (the CSPRNG).
import { randomFillSync } from 'node:crypto';

const BATCH = 4096;
const pool = Buffer.allocUnsafe(16 * BATCH);
let next = BATCH;
const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i + 0x100).toString(16).slice(1));

export function uuidV4(): string {
  if (next === BATCH) {
    randomFillSync(pool);
    next = 0;
  }
  const o = 16 * next++;
  const b = pool;
  // RFC 9562 5.4: version 4 in the high nibble of byte 6, variant 10xx in byte 8.
  b[o + 6] = (b[o + 6] & 0x0f) | 0x40;
  b[o + 8] = (b[o + 8] & 0x3f) | 0x80;
  return HEX[b[o]] + HEX[b[o + 1]] + HEX[b[o + 2]] + HEX[b[o + 3]] + '-' +
    HEX[b[o + 4]] + HEX[b[o + 5]] + '-' + HEX[b[o + 6]] + HEX[b[o + 7]] + '-' +
    HEX[b[o + 8]] + HEX[b[o + 9]] + '-' + HEX[b[o + 10]] + HEX[b[o + 11]] +
    HEX[b[o + 12]] + HEX[b[o + 13]] + HEX[b[o + 14]] + HEX[b[o + 15]];
}
