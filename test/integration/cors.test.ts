// envoy.filters.http.cors through a real Legate to a real upstream, driven by undici, with every
// answer judged by the Fetch standard's own checks (https://fetch.spec.whatwg.org/: "CORS check"
// and "CORS-preflight fetch" steps 7.3-7.8), so "a browser would accept this" is what is asserted:
// preflights answered locally (allowed origin echoed, credentials, allowed methods and headers,
// max-age), actual requests decorated, disallowed origins left without CORS headers (and their
// preflights forwarded unless forward_not_matching_preflights is false), policies from the virtual
// host's and the route's typed_per_filter_config merged field by field, the deprecated route and
// virtual host `cors`, shadow mode, and the cors.origin_valid / origin_invalid stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { hcmListener, staticCluster } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { pollStat } from './fixtures/clients.ts';

const POLICY = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

type Headers = Record<string, string | string[] | undefined>;

function one(h: Headers, name: string): string | null {
  const v = h[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

/** Fetch's CORS check (4.10): may the page at `origin` read this response? */
function corsCheck(h: Headers, origin: string, credentials: boolean): boolean {
  const allow = one(h, 'access-control-allow-origin');
  if (allow === null) return false;
  if (!credentials && allow === '*') return true;
  if (allow !== origin) return false;
  if (!credentials) return true;
  return one(h, 'access-control-allow-credentials') === 'true';
}

const SAFELISTED_METHODS = new Set(['GET', 'HEAD', 'POST']);

/** Fetch's CORS-preflight fetch (4.9): may the browser go on with `method` and the (non
 *  CORS-safelisted) `headers` after this preflight answer? */
function preflightPasses(status: number, h: Headers, origin: string, method: string, headers: string[],
  credentials: boolean): boolean {
  if (status < 200 || status > 299 || !corsCheck(h, origin, credentials)) return false;
  const list = (name: string): string[] => (one(h, name) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const methods = list('access-control-allow-methods');
  const names = list('access-control-allow-headers').map((s) => s.toLowerCase());
  if (!methods.includes(method) && !SAFELISTED_METHODS.has(method) && (credentials || !methods.includes('*'))) return false;
  for (const n of headers) {
    if (!names.includes(n.toLowerCase()) && (credentials || !names.includes('*'))) return false;
  }
  return true;
}

function config(upstreamPort: number): string {
  const virtualHosts = `
            - name: api
              domains: ["api.test"]
              typed_per_filter_config:
                cors:
                  "@type": ${POLICY}
                  allow_origin_string_match: [{ exact: "https://app.example" }, { suffix: ".trusted.example" }]
                  allow_methods: "GET, PUT"
                  allow_headers: "x-custom, content-type"
                  expose_headers: "x-seen-method"
                  max_age: "600"
                  allow_credentials: true
              routes:
              - match: { prefix: "/any-origin" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  cors:
                    "@type": ${POLICY}
                    allow_origin_string_match: [{ exact: "*" }]
                    allow_headers: "*"
                    allow_credentials: false
              - match: { prefix: "/no-forward" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  cors: { "@type": ${POLICY}, forward_not_matching_preflights: false }
              - match: { prefix: "/shadow" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  cors:
                    "@type": ${POLICY}
                    filter_enabled: { default_value: { numerator: 0 } }
                    shadow_enabled: { default_value: { numerator: 100 } }
              - match: { prefix: "/direct" }
                direct_response: { status: 200, body: { inline_string: direct } }
              - match: { prefix: "/" }
                route: { cluster: upstream }
            - name: legacy
              domains: ["legacy.test"]
              cors:
                allow_origin_string_match: [{ prefix: "https://old." }]
                allow_methods: "GET"
                allow_headers: "x-legacy"
              routes:
              - match: { prefix: "/post" }
                route:
                  cluster: upstream
                  cors: { allow_methods: "POST, PATCH" }
              - match: { prefix: "/" }
                route: { cluster: upstream }
            - name: none
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: upstream }`;
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', '', {
    virtualHosts,
    httpFilters: `
          - name: cors
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors`,
  })}
  clusters:${staticCluster('upstream', [upstreamPort])}
`;
}

test('cors: preflights and actual requests as a browser checks them', async () => {
  const up = await httpUp();
  const l = await legateFor(config(up.port));
  const agent = new Agent();
  const port = l.port('proxy');
  const send = async (method: string, host: string, p: string, headers: Record<string, string>) => {
    const r = await request(`http://127.0.0.1:${port}${p}`, { method: method as 'GET', dispatcher: agent, headers: { host, ...headers } });
    const body = await r.body.text();
    return { status: r.statusCode, headers: r.headers as Headers, body };
  };
  const preflight = (host: string, p: string, origin: string, method: string, reqHeaders: string[] = []) => send('OPTIONS', host, p, {
    origin, 'access-control-request-method': method,
    ...(reqHeaders.length > 0 ? { 'access-control-request-headers': reqHeaders.join(',') } : {}),
  });
  const app = 'https://app.example';
  const upstreamSeen = () => up.requests.length;

  // A preflight from an allowed origin, answered by Legate: the upstream never sees it.
  let before = upstreamSeen();
  let r = await preflight('api.test', '/items', app, 'PUT', ['x-custom', 'Content-Type']);
  assert.equal(r.status, 200);
  assert.equal(upstreamSeen(), before);
  assert.equal(r.body, '');
  assert.equal(one(r.headers, 'access-control-allow-origin'), app);
  assert.equal(one(r.headers, 'access-control-allow-credentials'), 'true');
  assert.equal(one(r.headers, 'access-control-allow-methods'), 'GET, PUT');
  assert.equal(one(r.headers, 'access-control-allow-headers'), 'x-custom, content-type');
  assert.equal(one(r.headers, 'access-control-max-age'), '600');
  assert.ok(preflightPasses(r.status, r.headers, app, 'PUT', ['x-custom', 'Content-Type'], true));
  // ... which a browser would refuse for a method or a header the policy does not allow.
  assert.ok(!preflightPasses(r.status, r.headers, app, 'DELETE', [], true));
  assert.ok(!preflightPasses(r.status, r.headers, app, 'PUT', ['x-other'], true));
  // A suffix matcher.
  r = await preflight('api.test', '/items', 'https://a.trusted.example', 'PUT');
  assert.ok(preflightPasses(r.status, r.headers, 'https://a.trusted.example', 'PUT', [], true));

  // The actual request: forwarded, and the response carries what the CORS check needs.
  r = await send('PUT', 'api.test', '/items', { origin: app, 'x-custom': '1' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'PUT /items');
  assert.ok(corsCheck(r.headers, app, true));
  assert.equal(one(r.headers, 'access-control-expose-headers'), 'x-seen-method');

  // A disallowed origin: no CORS header on the response (the browser hides it), the request still
  // reaches the upstream (CORS does not block), and its preflight goes upstream too.
  const evil = 'https://evil.example';
  r = await send('GET', 'api.test', '/items', { origin: evil });
  assert.equal(r.body, 'GET /items');
  assert.equal(one(r.headers, 'access-control-allow-origin'), null);
  assert.ok(!corsCheck(r.headers, evil, false));
  before = upstreamSeen();
  r = await preflight('api.test', '/items', evil, 'PUT');
  assert.equal(upstreamSeen(), before + 1);
  assert.equal(r.body, 'OPTIONS /items');
  assert.ok(!preflightPasses(r.status, r.headers, evil, 'PUT', [], false));
  // forward_not_matching_preflights: false answers it here, without allowing it; the route's
  // policy has only that field, the rest comes from the virtual host's.
  before = upstreamSeen();
  r = await preflight('api.test', '/no-forward', evil, 'PUT');
  assert.equal(upstreamSeen(), before);
  assert.equal(r.status, 200);
  assert.equal(one(r.headers, 'access-control-allow-origin'), null);
  assert.equal(one(r.headers, 'access-control-allow-methods'), 'GET, PUT');
  assert.ok(!preflightPasses(r.status, r.headers, evil, 'PUT', [], false));
  r = await preflight('api.test', '/no-forward', app, 'PUT');
  assert.ok(preflightPasses(r.status, r.headers, app, 'PUT', [], true));

  // The route's policy over the virtual host's: any origin (a "*" matcher), echoed, and no
  // credentials, so a credentialed request fails the browser's check and an anonymous one passes;
  // allow_headers "*" echoes the requested headers; the methods are the virtual host's.
  r = await preflight('api.test', '/any-origin', evil, 'PUT', ['x-one', 'x-two']);
  assert.equal(one(r.headers, 'access-control-allow-origin'), evil);
  assert.equal(one(r.headers, 'access-control-allow-credentials'), null);
  assert.equal(one(r.headers, 'access-control-allow-headers'), 'x-one,x-two');
  assert.ok(preflightPasses(r.status, r.headers, evil, 'PUT', ['x-one', 'x-two'], false));
  assert.ok(!preflightPasses(r.status, r.headers, evil, 'PUT', ['x-one'], true));
  r = await send('GET', 'api.test', '/any-origin', { origin: evil });
  assert.ok(corsCheck(r.headers, evil, false));
  assert.ok(!corsCheck(r.headers, evil, true));

  // Not CORS requests: no Origin, or an OPTIONS without Access-Control-Request-Method.
  r = await send('GET', 'api.test', '/items', {});
  assert.equal(one(r.headers, 'access-control-allow-origin'), null);
  before = upstreamSeen();
  r = await send('OPTIONS', 'api.test', '/items', { origin: app });
  assert.equal(upstreamSeen(), before + 1);
  assert.equal(one(r.headers, 'access-control-allow-origin'), app);

  // Shadow mode: counted, nothing enforced or added. A direct response route is left alone.
  before = upstreamSeen();
  r = await preflight('api.test', '/shadow', app, 'PUT');
  assert.equal(upstreamSeen(), before + 1);
  assert.equal(one(r.headers, 'access-control-allow-origin'), null);
  r = await preflight('api.test', '/direct', app, 'PUT');
  assert.equal(r.body, 'direct');
  assert.equal(one(r.headers, 'access-control-allow-origin'), null);

  // The deprecated route and virtual host `cors`: the route's allow_methods over the virtual
  // host's, the rest from the virtual host; no credentials.
  const old = 'https://old.example';
  r = await preflight('legacy.test', '/post', old, 'PATCH', ['x-legacy']);
  assert.equal(one(r.headers, 'access-control-allow-methods'), 'POST, PATCH');
  assert.ok(preflightPasses(r.status, r.headers, old, 'PATCH', ['x-legacy'], false));
  assert.ok(!preflightPasses(r.status, r.headers, old, 'PATCH', ['x-legacy'], true));
  r = await preflight('legacy.test', '/get', old, 'PATCH');
  assert.ok(!preflightPasses(r.status, r.headers, old, 'PATCH', [], false));
  r = await send('GET', 'legacy.test', '/get', { origin: old });
  assert.ok(corsCheck(r.headers, old, false));
  // A virtual host without any policy.
  r = await preflight('other.test', '/x', app, 'PUT');
  assert.equal(r.body, 'OPTIONS /x');
  assert.equal(one(r.headers, 'access-control-allow-origin'), null);

  // valid: 11 (at api.test the allowed origins' three preflights, the PUT, the OPTIONS without a
  // method, the two to /any-origin and /shadow's; the three at legacy.test; /direct is not a route
  // entry); invalid: the three from evil.example outside /any-origin.
  assert.equal(await pollStat(l, 'http.ingress.cors.origin_valid', (v) => v === 11), 11);
  assert.equal(await pollStat(l, 'http.ingress.cors.origin_invalid', (v) => v === 3), 3);
  await agent.close();
});
