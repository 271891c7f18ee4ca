// UUID v4 strings for x-request-id. crypto.randomUUID() refills its entropy every 128 ids and
// formats through several helpers; on the request path a bigger batch (4096 ids per
// randomFillSync), formatted as text in one pass per batch, makes an id one latin1Slice: a flat
// string, so it costs no concatenation now and no flattening when the request head is written.
// Same randomness source (the CSPRNG).
import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

const BATCH = 4096;
const ID_LEN = 36;
const pool = Buffer.allocUnsafe(16 * BATCH);
const text = Buffer.allocUnsafe(ID_LEN * BATCH);
let next = BATCH;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where each of the 16 bytes' two hex digits go in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

function refill(): void {
  randomFillSync(pool);
  for (let i = 0; i < BATCH; i++) {
    const o = 16 * i;
    const t = ID_LEN * i;
    // RFC 9562 5.4: version 4 in the high nibble of byte 6, variant 10xx in byte 8.
    pool[o + 6] = (pool[o + 6] & 0x0f) | 0x40;
    pool[o + 8] = (pool[o + 8] & 0x3f) | 0x80;
    for (let k = 0; k < 16; k++) {
      const b = pool[o + k];
      text[t + AT[k]] = HEX[b >> 4];
      text[t + AT[k] + 1] = HEX[b & 15];
    }
    text[t + 8] = text[t + 13] = text[t + 18] = text[t + 23] = 45; // '-'
  }
  next = 0;
}

export function uuidV4(): string {
  if (next === BATCH) refill();
  const t = ID_LEN * next++;
  return text.latin1Slice(t, t + ID_LEN);
}
