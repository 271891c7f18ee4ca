// The rate limit filters' own pieces: the hand-written RLS v3 codec against protobufjs with
// Envoy's real rls.proto (both directions), the x-ratelimit-* values, and the shared token bucket
// under contention from real worker threads (every token handed out once, none lost).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { Worker } from 'node:worker_threads';
import { rlsRoot } from '../../../integration/fixtures/rls.ts';
import {
  RlsCode, decodeResponse, encodeRequest, xRateLimitHeaders,
} from '../../../../src/extensions/filters/http/ratelimit/rls-codec.ts';
import {
  BUCKET_SLOTS, LocalTokenBucket, SharedTokenBucket, sharedNs,
} from '../../../../src/extensions/filters/http/local-ratelimit/token-bucket.ts';
import { addressWithoutPort } from '../../../../src/router/rate-limits.ts';

test('RateLimitRequest as protobufjs reads it with Envoy\'s rls.proto', () => {
  const Req = rlsRoot().lookupType('envoy.service.ratelimit.v3.RateLimitRequest');
  const descriptors = [['user', 'alice', 'generic_key', 'api'], ['remote_address', '127.0.0.1'], ['k', 'ü'.repeat(200)]];
  const o = Req.toObject(Req.decode(encodeRequest('my-domain', descriptors, 3))) as any;
  assert.equal(o.domain, 'my-domain');
  assert.equal(o.hits_addend, 3);
  assert.deepEqual(o.descriptors.map((d: any) => d.entries.flatMap((e: any) => [e.key, e.value])), descriptors);
  const empty = Req.decode(encodeRequest('', [], 0)) as any;
  assert.equal(empty.domain, '');
});

test('RateLimitResponse written by protobufjs, read by the codec', () => {
  const Res = rlsRoot().lookupType('envoy.service.ratelimit.v3.RateLimitResponse');
  const msg = Res.fromObject({
    overall_code: 'OVER_LIMIT',
    statuses: [
      { code: 'OK', current_limit: { name: 'n', requests_per_unit: 100, unit: 'MINUTE' }, limit_remaining: 7,
        duration_until_reset: { seconds: 30, nanos: 5 } },
      { code: 'OVER_LIMIT', current_limit: { requests_per_unit: 5, unit: 'SECOND' }, limit_remaining: 0 },
      { code: 'OK' },
    ],
    response_headers_to_add: [{ key: 'X-A', value: '1' }],
    request_headers_to_add: [{ key: 'x-b', value: '2' }],
    raw_body: Buffer.from('over'),
    dynamic_metadata: { fields: { a: { string_value: 'x' } } },
  });
  const r = decodeResponse(Buffer.from(Res.encode(msg).finish()));
  assert.equal(r.overallCode, RlsCode.OverLimit);
  assert.deepEqual(r.statuses, [
    { code: 1, limit: { name: 'n', requestsPerUnit: 100, unit: 2 }, limitRemaining: 7, resetSeconds: 30 },
    { code: 2, limit: { name: '', requestsPerUnit: 5, unit: 1 }, limitRemaining: 0, resetSeconds: 0 },
    { code: 1, limit: null, limitRemaining: 0, resetSeconds: 0 },
  ]);
  assert.deepEqual(r.responseHeadersToAdd, ['x-a', '1']);
  assert.deepEqual(r.requestHeadersToAdd, ['x-b', '2']);
  assert.equal(r.rawBody, 'over');
  assert.deepEqual(xRateLimitHeaders(r.statuses), ['5, 100;w=60;name="n", 5;w=1', '0', '0']);
  assert.equal(xRateLimitHeaders([]), null);
  // (The gRPC framing, a compressed or truncated frame included, is common/grpc-unary.ts's.)
  assert.throws(() => decodeResponse(Buffer.from([0x12, 9, 8])), /truncated/);
  assert.throws(() => decodeResponse(Buffer.from([0x0b])), /unsupported wire type/);
});

test('a token bucket: full at start, one token per 1/rate, capped at max_tokens; x-ratelimit state', () => {
  const b = new LocalTokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000, offset: -1 });
  const t0 = sharedNs(0) + 1e12;
  assert.deepEqual([b.consume(t0), b.consume(t0), b.consume(t0), b.consume(t0)], [true, true, true, false]);
  const s = { maxTokens: 0, remaining: 0, resetSeconds: 0 };
  b.state(t0, s);
  assert.deepEqual(s, { maxTokens: 3, remaining: 0, resetSeconds: 1 });
  // 2 tokens a second: one every 500 ms.
  assert.equal(b.consume(t0 + 499e6), false);
  assert.equal(b.consume(t0 + 500e6), true);
  // A long idle refills only to max_tokens.
  const later = t0 + 3600e9;
  let n = 0;
  while (b.consume(later)) n++;
  assert.equal(n, 3);
  assert.equal(addressWithoutPort('10.0.0.1:80'), '10.0.0.1');
  assert.equal(addressWithoutPort('[::1]:80'), '::1');
  assert.equal(addressWithoutPort('::1'), '::1');
});

test('the shared bucket under contention: 4 threads hammering one bucket get exactly max_tokens', async () => {
  const sab = new SharedArrayBuffer(64, { maxByteLength: 4096 });
  const offset = 2 * BUCKET_SLOTS;
  const snap = { maxTokens: 5000, tokensPerFill: 1, fillIntervalMs: 3_600_000, offset };
  const now = sharedNs(0) + 1e12;
  const url = new URL('../../../../src/extensions/filters/http/local-ratelimit/token-bucket.ts', import.meta.url).href;
  const src = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { SharedTokenBucket } = await import(${JSON.stringify(url)});
    const { sab, snap, now } = workerData;
    const b = new SharedTokenBucket(snap, new BigInt64Array(sab), snap.offset);
    let got = 0;
    for (let i = 0; i < 20000; i++) if (b.consume(now)) got++;
    parentPort.postMessage(got);`;
  const counts = await Promise.all(Array.from({ length: 4 }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(src, { eval: true, workerData: { sab, snap, now } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  assert.equal(counts.reduce((a, b) => a + b, 0), 5000, `per thread: ${counts.join(', ')}`);
  // The main thread sees the same state: empty.
  assert.equal(new SharedTokenBucket(snap, new BigInt64Array(sab), offset).consume(now), false);
});
