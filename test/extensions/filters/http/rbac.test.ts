// The RBAC engine and filter (src/extensions/filters/http/rbac) against fake stream callbacks: each
// principal and permission kind on the addresses, TLS identity and SNI Envoy reads, policy order,
// the three actions, the filter's shadow-then-enforced evaluation, per-route engines, stats and the
// 403 local reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, RbacAction, RbacInput, type EngineSnap, type RuleSnap } from '../../../../src/extensions/filters/http/rbac/engine.ts';
import { RbacFilter, metadataKeys, type RbacPerRouteSnap, type RbacShared } from '../../../../src/extensions/filters/http/rbac/filter.ts';
import { FilterHeadersStatus, type StreamDecoderFilterCallbacks } from '../../../../src/http/filter.ts';
import { RequestHeaders, newStreamInfo } from '../../../../src/http/types.ts';
import type { SslConnectionInfo } from '../../../../src/network/transport-socket.ts';

interface Conn {
  remoteAddress: string;
  localAddress: string;
  ssl: SslConnectionInfo | null;
}

function fakeSsl(uris: string[], dns: string[], subject: string): SslConnectionInfo {
  return {
    uriSanPeerCertificate: () => uris, dnsSansPeerCertificate: () => dns, subjectPeerCertificate: () => subject,
    requestedServerName: () => 'tls.example',
  } as unknown as SslConnectionInfo;
}

function callbacks(o: { direct?: string; remote?: string; conn?: Partial<Conn>; sni?: string; perRoute?: object | null } = {}) {
  const conn: Conn = { remoteAddress: '127.0.0.1:5000', localAddress: '127.0.0.1:8080', ssl: null, ...o.conn };
  const info = newStreamInfo(0, o.remote ?? o.direct ?? '127.0.0.1:5000', o.direct ?? '127.0.0.1:5000', conn.ssl, o.sni ?? '');
  const replies: [number, string, string][] = [];
  const cb = {
    streamInfo: info,
    connection: () => ({ remoteAddress: conn.remoteAddress, localAddress: conn.localAddress, ssl: () => conn.ssl }),
    perFilterConfig: () => o.perRoute ?? null,
    sendLocalReply: (status: number, body: string, _flag: string, details: string) => { replies.push([status, body, details]); },
  } as unknown as StreamDecoderFilterCallbacks;
  return { cb, replies };
}

const req = (path = '/', headers: string[] = []): RequestHeaders => new RequestHeaders('GET', path, 'h', 'http', 'HTTP/1.1', headers);
const policy = (name: string, permissions: RuleSnap[], principals: RuleSnap[]) => ({ name, permissions, principals });
const ANY: RuleSnap = { k: 'any' };
const cidr = (c: string) => ({ cidr: c });

function matches(rule: RuleSnap, principal: boolean, i: RbacInput): boolean {
  const e = new Engine({ action: RbacAction.Allow, policies: [principal ? policy('p', [ANY], [rule]) : policy('p', [rule], [ANY])] });
  return e.matchedPolicy(i) !== null;
}

test('addresses: source (connection), direct remote (socket), remote (x-forwarded-for), destination ip and ports', () => {
  const { cb } = callbacks({
    direct: '10.0.0.1:1234', remote: '[2001:db8::7]:0',
    conn: { remoteAddress: '192.168.1.1:99', localAddress: '[::ffff:172.16.0.1]:8443' },
  });
  const i = new RbacInput(req(), cb);
  assert.ok(matches({ k: 'direct_remote_ip', range: cidr('10.0.0.0/8') }, true, i));
  assert.ok(!matches({ k: 'direct_remote_ip', range: cidr('192.168.0.0/16') }, true, i));
  assert.ok(matches({ k: 'source_ip', range: cidr('192.168.0.0/16') }, true, i));
  assert.ok(matches({ k: 'remote_ip', range: cidr('2001:db8::/32') }, true, i));
  assert.ok(!matches({ k: 'remote_ip', range: cidr('10.0.0.0/8') }, true, i));
  // An IPv4-mapped local address matches the IPv4 range.
  assert.ok(matches({ k: 'destination_ip', range: cidr('172.16.0.0/12') }, false, i));
  assert.ok(matches({ k: 'destination_port', port: 8443 }, false, i));
  assert.ok(!matches({ k: 'destination_port', port: 8080 }, false, i));
  assert.ok(matches({ k: 'destination_port_range', start: 8000, end: 8444 }, false, i));
  assert.ok(!matches({ k: 'destination_port_range', start: 8000, end: 8443 }, false, i));
});

test('authenticated: a TLS connection; principal_name against URI SANs, DNS SANs, then the subject', () => {
  const exact = (v: string): RuleSnap => ({ k: 'authenticated', match: { kind: 'exact', value: v, ignoreCase: false } });
  const plain = new RbacInput(req(), callbacks().cb);
  assert.ok(!matches({ k: 'authenticated', match: null }, true, plain));
  const tls = new RbacInput(req(), callbacks({ conn: { ssl: fakeSsl(['spiffe://a/b', 'spiffe://c'], ['svc.local'], 'CN=client') } }).cb);
  assert.ok(matches({ k: 'authenticated', match: null }, true, tls));
  assert.ok(matches(exact('spiffe://c'), true, tls));
  assert.ok(matches(exact('svc.local'), true, tls));
  assert.ok(matches(exact('CN=client'), true, tls));
  assert.ok(!matches(exact('spiffe://x'), true, tls));
  // requested_server_name: the listener's SNI, else the TLS connection's.
  const sni: RuleSnap = { k: 'requested_server_name', match: { kind: 'suffix', value: '.example', ignoreCase: false } };
  assert.ok(matches(sni, false, tls));
  assert.ok(!matches(sni, false, plain));
});

test('headers, url_path (no query), and / or / not', () => {
  const i = new RbacInput(req('/api/v1?x=/admin', ['x-role', 'admin', 'x-role', 'ops']), callbacks().cb);
  const path = (prefix: string): RuleSnap => ({ k: 'url_path', match: { kind: 'prefix', value: prefix, ignoreCase: false } });
  assert.ok(matches(path('/api/'), false, i));
  assert.ok(!matches({ k: 'url_path', match: { kind: 'suffix', value: '/admin', ignoreCase: false } }, false, i));
  const role = (v: string): RuleSnap => ({
    k: 'header', header: { name: 'x-role', kind: 'exact', value: v, ignoreCase: false, invert: false, present: false },
  });
  // Repeated headers are matched joined with ',' (Envoy's getAllOfHeaderAsString).
  assert.ok(matches(role('admin,ops'), true, i));
  assert.ok(!matches(role('admin'), true, i));
  assert.ok(matches({ k: 'and', of: [path('/api'), { k: 'not', of: path('/x') }] }, false, i));
  assert.ok(!matches({ k: 'and', of: [path('/api'), path('/x')] }, false, i));
  assert.ok(matches({ k: 'or', of: [path('/x'), path('/api')] }, false, i));
});

test('actions and order: the first policy by name decides; ALLOW, DENY, LOG', () => {
  const i = new RbacInput(req('/a'), callbacks().cb);
  const snap = (action: RbacAction, policies: EngineSnap['policies']): Engine => new Engine({ action, policies });
  const both = [policy('a-first', [ANY], [ANY]), policy('b-second', [ANY], [ANY])];
  const allow = snap(RbacAction.Allow, both);
  assert.equal(allow.matchedPolicy(i), 'a-first');
  assert.ok(allow.allowed('a-first'));
  assert.ok(!snap(RbacAction.Allow, []).allowed(null));
  assert.ok(!snap(RbacAction.Deny, both).allowed('a-first'));
  assert.ok(snap(RbacAction.Deny, []).allowed(null));
  assert.ok(snap(RbacAction.Log, both).allowed('a-first'));
  assert.ok(snap(RbacAction.Log, []).allowed(null));
});

function shared(enforced: EngineSnap | null, shadow: EngineSnap | null): RbacShared {
  return {
    enforced: enforced === null ? null : new Engine(enforced), shadow: shadow === null ? null : new Engine(shadow),
    keys: metadataKeys('rp_', 'sp_'), configName: 'rbac', stats: { v: new Float64Array(4), record() {} },
    allowed: 0, denied: 1, shadowAllowed: 2, shadowDenied: 3,
  };
}

test('filter: shadow counted, enforced decides, 403 with the matched policy in the details; per-route engines', () => {
  const denyBlocked: EngineSnap = {
    action: RbacAction.Deny,
    policies: [policy('block me', [{ k: 'url_path', match: { kind: 'prefix', value: '/blocked', ignoreCase: false } }], [ANY])],
  };
  const s = shared(denyBlocked, { action: RbacAction.Allow, policies: [] });
  let metadata: unknown = null;
  const run = (path: string, perRoute: RbacPerRouteSnap | null = null) => {
    const { cb, replies } = callbacks({ perRoute });
    const f = new RbacFilter(s);
    f.setDecoderFilterCallbacks(cb);
    const status = f.decodeHeaders(req(path), true);
    metadata = cb.streamInfo.dynamicMetadata;
    return { status, replies };
  };
  assert.deepEqual(run('/ok'), { status: FilterHeadersStatus.Continue, replies: [] });
  // Each engine's result under the filter's namespace, keys prefixed by the filter's stat prefixes
  // (the shadow ALLOW with no policy denied; the enforced DENY matched nothing: allowed).
  assert.deepEqual(metadata, {
    'envoy.filters.http.rbac': { sp_shadow_engine_result: 'denied', rp_enforced_engine_result: 'allowed' },
  });
  assert.deepEqual(run('/blocked/x'), {
    status: FilterHeadersStatus.StopIteration,
    replies: [[403, 'RBAC: access denied', 'rbac_access_denied_matched_policy[block_me]']],
  });
  assert.deepEqual([...s.stats.v], [1, 1, 0, 2]);
  assert.deepEqual(metadata, {
    'envoy.filters.http.rbac': {
      sp_shadow_engine_result: 'denied', rp_enforced_effective_policy_id: 'block me', rp_enforced_engine_result: 'denied',
    },
  });
  // A route's RBACPerRoute replaces both engines: without rules, nothing is evaluated or counted.
  const none = { rulesPrefix: '', shadowPrefix: '' };
  assert.deepEqual(run('/blocked', { enforced: null, shadow: null, ...none }).replies, []);
  assert.equal(metadata, null);
  const allowNone: RbacPerRouteSnap = { enforced: { action: RbacAction.Allow, policies: [] }, shadow: null, ...none };
  assert.deepEqual(run('/ok', allowNone).replies, [[403, 'RBAC: access denied', 'rbac_access_denied_matched_policy[none]']]);
  assert.deepEqual([...s.stats.v], [1, 2, 0, 2]);
  // A route's engines with the route's prefixes; the matched policy's name; LOG's access log hint.
  const logBlocked: EngineSnap = { ...denyBlocked, action: RbacAction.Log };
  assert.deepEqual(run('/blocked', { enforced: logBlocked, shadow: denyBlocked, rulesPrefix: 'r_', shadowPrefix: 's_' }).replies, []);
  assert.deepEqual(metadata, {
    'envoy.filters.http.rbac': {
      s_shadow_effective_policy_id: 'block me', s_shadow_engine_result: 'denied',
      r_enforced_effective_policy_id: 'block me', r_enforced_engine_result: 'allowed',
    },
    'envoy.common': { access_log_hint: true },
  });
  run('/ok', { enforced: logBlocked, shadow: null, ...none });
  assert.deepEqual(metadata, {
    'envoy.filters.http.rbac': { enforced_engine_result: 'allowed' }, 'envoy.common': { access_log_hint: false },
  });
});
