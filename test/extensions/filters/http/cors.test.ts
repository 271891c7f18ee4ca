// The CORS filter (src/extensions/filters/http/cors/filter.ts) against fake stream callbacks: the
// runtime keys of filter_enabled / shadow_enabled, allow_methods "*" and private network access on
// a preflight, the response headers of an actual request, and a route without a policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorsFilter, type CorsPolicySnap, type CorsShared } from '../../../../src/extensions/filters/http/cors/filter.ts';
import { FilterHeadersStatus, type StreamDecoderFilterCallbacks } from '../../../../src/http/filter.ts';
import { RequestHeaders, ResponseHeaders, newStreamInfo } from '../../../../src/http/types.ts';
import { RuntimeSnapshot } from '../../../../src/runtime/snapshot.ts';
import { createEntry } from '../../../../src/runtime/entry.ts';
import type { Loader } from '../../../../src/runtime/types.ts';

const base: CorsPolicySnap = {
  allowOrigins: [{ kind: 'exact', value: 'https://a', ignoreCase: false }], allowMethods: '*', allowHeaders: '',
  exposeHeaders: 'x-e', maxAge: '', allowCredentials: true, allowPrivateNetworkAccess: true,
  forwardNotMatchingPreflights: null, filterEnabled: null, shadowEnabled: null,
};

function setup(policy: CorsPolicySnap | null, runtime: Record<string, number> = {}) {
  const values = new Map(Object.entries(runtime).map(([k, v]) => [k, createEntry(v, String(v))]));
  const loader: Loader = { snapshot: () => new RuntimeSnapshot(values) };
  const shared: CorsShared = { configName: 'cors', runtime: loader, stats: { v: new Float64Array(2), record() {} }, originValid: 0, originInvalid: 1 };
  const encoded: ResponseHeaders[] = [];
  const cb = {
    streamInfo: newStreamInfo(0, '', '', null),
    route: { snap: { action: { kind: 'cluster' } } },
    perFilterConfig: () => policy,
    encodeHeaders: (h: ResponseHeaders) => { encoded.push(h); },
  } as unknown as StreamDecoderFilterCallbacks;
  const run = (method: string, headers: string[]) => {
    const f = new CorsFilter(shared);
    f.setDecoderFilterCallbacks(cb);
    const status = f.decodeHeaders(new RequestHeaders(method, '/', 'h', 'http', 'HTTP/1.1', headers), true);
    const resp = new ResponseHeaders(200, []);
    if (status === FilterHeadersStatus.Continue) f.encodeHeaders(resp, true);
    return { status, resp };
  };
  return { run, encoded, stats: shared.stats.v };
}

const PREFLIGHT = ['origin', 'https://a', 'access-control-request-method', 'DELETE', 'access-control-request-private-network', 'true'];

test('a preflight: allow_methods "*" echoes the requested method; private network access; stopped here', () => {
  const { run, encoded } = setup(base);
  assert.equal(run('OPTIONS', PREFLIGHT).status, FilterHeadersStatus.StopIteration);
  assert.equal(encoded.length, 1);
  assert.equal(encoded[0].status, 200);
  assert.deepEqual(encoded[0].list, [
    'access-control-allow-origin', 'https://a', 'access-control-allow-credentials', 'true',
    'access-control-allow-methods', 'DELETE', 'access-control-allow-private-network', 'true',
  ]);
});

test('an actual request: origin echoed, credentials, expose headers; nothing for another origin', () => {
  const { run, stats } = setup(base);
  assert.deepEqual(run('GET', ['origin', 'https://a']).resp.list, [
    'access-control-allow-origin', 'https://a', 'access-control-allow-credentials', 'true', 'access-control-expose-headers', 'x-e',
  ]);
  assert.deepEqual(run('GET', ['origin', 'https://b']).resp.list, []);
  assert.deepEqual(run('GET', ['origin', '']).resp.list, []);
  assert.deepEqual([...stats], [1, 1]);
});

test('filter_enabled and shadow_enabled follow their runtime keys', () => {
  const policy: CorsPolicySnap = {
    ...base,
    filterEnabled: { key: 'cors.enabled', defaultValue: { numerator: 100, denominator: 'HUNDRED' } },
    shadowEnabled: { key: 'cors.shadow', defaultValue: { numerator: 0, denominator: 'HUNDRED' } },
  };
  // Enabled by default.
  let s = setup(policy);
  assert.equal(s.run('OPTIONS', PREFLIGHT).status, FilterHeadersStatus.StopIteration);
  // Turned off by the runtime, shadow off: neither answered nor counted.
  s = setup(policy, { 'cors.enabled': 0 });
  assert.equal(s.run('OPTIONS', PREFLIGHT).status, FilterHeadersStatus.Continue);
  assert.deepEqual([...s.stats], [0, 0]);
  // Shadow on: counted only.
  s = setup(policy, { 'cors.enabled': 0, 'cors.shadow': 100 });
  const r = s.run('OPTIONS', PREFLIGHT);
  assert.equal(r.status, FilterHeadersStatus.Continue);
  assert.deepEqual(r.resp.list, []);
  assert.deepEqual([...s.stats], [1, 0]);
});

test('no policy for the route: nothing', () => {
  const { run, stats } = setup(null);
  assert.equal(run('OPTIONS', PREFLIGHT).status, FilterHeadersStatus.Continue);
  assert.deepEqual([...stats], [0, 0]);
});
