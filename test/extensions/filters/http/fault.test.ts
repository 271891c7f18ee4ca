// The fault filter on its own, with stand-in callbacks: the runtime's keys (the downstream
// cluster's win), a delay cancelled by the stream's end (its active fault released), a gRPC
// request's abort as a trailers-only response, and the process-wide limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultConfig, FaultFilter, activeFaults } from '../../../../src/extensions/filters/http/fault/filter.ts';
import { AbortKind, SourceKind, type FaultSettingsSnap, type FaultSnap } from '../../../../src/extensions/filters/http/fault/config.ts';
import { FilterHeadersStatus } from '../../../../src/http/filter.ts';
import { RequestHeaders, type ResponseHeaders } from '../../../../src/http/types.ts';
import { createEntry } from '../../../../src/runtime/entry.ts';
import { NULL_LOADER, ThreadLoader } from '../../../../src/runtime/snapshot.ts';
import type { Loader } from '../../../../src/runtime/types.ts';

const KEYS = {
  delayPercent: 'fault.http.delay.fixed_delay_percent', abortPercent: 'fault.http.abort.abort_percent',
  delayDuration: 'fault.http.delay.fixed_duration_ms', abortHttpStatus: 'fault.http.abort.http_status',
  abortGrpcStatus: 'fault.http.abort.grpc_status', maxActiveFaults: 'fault.http.max_active_faults',
  responseRateLimitPercent: 'fault.http.rate_limit.response_percent',
};
const ALL = { numerator: 100, denominator: 'HUNDRED' } as const;

function settings(s: Partial<FaultSettingsSnap>): FaultSettingsSnap {
  return { abort: null, delay: null, upstreamCluster: '', headers: [], downstreamNodes: [], maxActiveFaults: -1,
    responseRateLimit: null, runtime: KEYS, ...s };
}

function config(s: Partial<FaultSettingsSnap>, runtime: Loader = NULL_LOADER): FaultConfig {
  const snap: FaultSnap = { settings: settings(s), filterName: 'f', active: new SharedArrayBuffer(4),
    stats: { aborts_injected: 0, delays_injected: 1, faults_overflow: 2, response_rl_injected: 3, active_faults: 4 } };
  return new FaultConfig(snap, runtime);
}

interface Seen { replies: [number, string][]; encoded: ResponseHeaders[]; continued: number; v: Float64Array }

function stream(c: FaultConfig, headers: string[] = []): { f: FaultFilter; seen: Seen; h: RequestHeaders } {
  const seen: Seen = { replies: [], encoded: [], continued: 0, v: new Float64Array(8) };
  const cb: any = {
    route: null, stats: { v: seen.v, record() {} }, streamInfo: { responseFlags: '', responseCodeDetails: '' },
    perFilterConfig: () => null,
    sendLocalReply: (s: number, body: string) => seen.replies.push([s, body]),
    encodeHeaders: (h: ResponseHeaders) => seen.encoded.push(h),
    continueDecoding: () => { seen.continued++; },
  };
  const f = new FaultFilter(c);
  f.setDecoderFilterCallbacks(cb);
  f.setEncoderFilterCallbacks(cb);
  return { f, seen, h: new RequestHeaders('GET', '/', 'h', 'http', 'HTTP/1.1', headers) };
}

test("runtime keys: the config's percentage is the default; x-envoy-downstream-service-cluster selects its own keys", () => {
  const rt = new ThreadLoader(new Map([
    ['fault.http.abort.abort_percent', createEntry(0)],
    ['fault.http.front.abort.abort_percent', createEntry(100)],
    ['fault.http.front.abort.http_status', createEntry(429)],
  ]));
  const c = config({ abort: { kind: AbortKind.Http, httpStatus: 503, grpcStatus: -1, percentage: ALL } }, rt);
  let s = stream(c);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.Continue);
  s = stream(c, ['x-envoy-downstream-service-cluster', 'front']);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.StopIteration);
  assert.deepEqual(s.seen.replies, [[429, 'fault filter abort']]);
  assert.equal(activeFaults(c), 1);
  s.f.onDestroy();
  assert.equal(activeFaults(c), 0);
});

test('a delay ended by the stream is cancelled and its active fault released', async () => {
  const c = config({ delay: { kind: SourceKind.Fixed, fixedMs: 30, percentage: ALL } });
  const s = stream(c);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.StopIteration);
  assert.equal(activeFaults(c), 1);
  assert.equal(s.seen.v[4], 1);
  s.f.onDestroy();
  assert.equal(activeFaults(c), 0);
  assert.equal(s.seen.v[4], 0);
  await sleep(60);
  assert.equal(s.seen.continued, 0);
});

test('a delay that runs out continues the request and releases the fault', async () => {
  const c = config({ delay: { kind: SourceKind.Fixed, fixedMs: 5, percentage: ALL } });
  const s = stream(c);
  s.f.decodeHeaders(s.h, true);
  await sleep(40);
  assert.equal(s.seen.continued, 1);
  assert.equal(activeFaults(c), 0);
  s.f.onDestroy();
  assert.equal(activeFaults(c), 0);
});

test('a gRPC request is aborted with a trailers-only response; the HTTP status maps to a gRPC one', () => {
  const c = config({ abort: { kind: AbortKind.Http, httpStatus: 503, grpcStatus: -1, percentage: ALL } });
  const s = stream(c, ['content-type', 'application/grpc']);
  s.f.decodeHeaders(s.h, true);
  assert.equal(s.seen.replies.length, 0);
  const h = s.seen.encoded[0];
  assert.equal(h.status, 200);
  assert.equal(h.get('grpc-status'), '14');
  assert.equal(h.get('grpc-message'), 'fault filter abort');
  s.f.onDestroy();
});

test('max_active_faults: the count is shared; past it the fault is skipped and counted', () => {
  const c = config({ delay: { kind: SourceKind.Fixed, fixedMs: 1000, percentage: ALL }, maxActiveFaults: 1 });
  const a = stream(c);
  const b = stream(c);
  assert.equal(a.f.decodeHeaders(a.h, true), FilterHeadersStatus.StopIteration);
  assert.equal(b.f.decodeHeaders(b.h, true), FilterHeadersStatus.Continue);
  assert.equal(b.seen.v[2], 1);
  a.f.onDestroy();
  b.f.onDestroy();
  assert.equal(activeFaults(c), 0);
});

test('downstream_nodes and headers select the requests; DI and FI flag them', () => {
  const c = config({
    abort: { kind: AbortKind.Http, httpStatus: 500, grpcStatus: -1, percentage: ALL },
    downstreamNodes: ['node-a'],
    headers: [{ name: 'x-fault', kind: 'exact', value: 'on', ignoreCase: false, invert: false, present: false }],
  });
  let s = stream(c, ['x-fault', 'on']);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.Continue);
  s = stream(c, ['x-envoy-downstream-service-node', 'node-a']);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.Continue);
  s = stream(c, ['x-envoy-downstream-service-node', 'node-a', 'x-fault', 'on']);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.StopIteration);
  assert.equal((s.f.dcb.streamInfo as { responseFlags: string }).responseFlags, 'FI');
  s.f.onDestroy();
  const d = config({ delay: { kind: SourceKind.Header, fixedMs: 0, percentage: ALL } });
  s = stream(d, ['x-envoy-fault-delay-request', '20']);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.StopIteration);
  assert.equal((s.f.dcb.streamInfo as { responseFlags: string }).responseFlags, 'DI');
  s.f.onDestroy();
  // No header, no delay.
  s = stream(d);
  assert.equal(s.f.decodeHeaders(s.h, true), FilterHeadersStatus.Continue);
});
