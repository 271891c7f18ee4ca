// ext_authz's hand-written protobuf against Envoy's own proto (protobufjs): the CheckRequest the
// gRPC client sends decodes as envoy.service.auth.v3.CheckRequest, and CheckResponses protobufjs
// encodes read back as the filter's AuthzResponse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { findMessageType, loadProtos } from '../../../../src/config/protos.ts';
import { RequestHeaders, type StreamInfo } from '../../../../src/http/types.ts';
import { checkRequest, checkResponse } from '../../../../src/extensions/filters/http/ext-authz/grpc-client.ts';
import { CheckStatus, type ExtAuthzSnap } from '../../../../src/extensions/filters/http/ext-authz/config.ts';

loadProtos();
const CheckRequest = findMessageType('envoy.service.auth.v3.CheckRequest')!;
const CheckResponse = findMessageType('envoy.service.auth.v3.CheckResponse')!;

test('CheckRequest: peers, request attributes, headers, body and context extensions', () => {
  const h = new RequestHeaders('POST', '/p/q?x=1', 'example.com', 'http', 'HTTP/1.1',
    ['x-request-id', 'rid', 'x-a', '1', 'x-a', '2', 'x-envoy-downstream-service-cluster', 'front']);
  const conn = { remoteAddress: '10.0.0.1:5555', localAddress: '[::1]:80', ssl: () => null } as any;
  const buf = checkRequest({ includePeerCertificate: false } as ExtAuthzSnap, { maxRequestBytes: 10, allowPartialMessage: true, packAsBytes: false }, {
    headers: h, streamInfo: {} as StreamInfo, connection: conn, body: Buffer.from('héllo'), partial: true,
    contextExtensions: ['tenant', 'acme'], streamId: 7,
  });
  const m = CheckRequest.toObject(CheckRequest.decode(buf), { longs: Number, defaults: false }) as any;
  const a = m.attributes;
  assert.deepEqual(a.source.address.socket_address, { address: '10.0.0.1', port_value: 5555 });
  assert.equal(a.source.service, 'front');
  assert.deepEqual(a.destination.address.socket_address, { address: '::1', port_value: 80 });
  const http = a.request.http;
  assert.equal(http.id, 'rid');
  assert.equal(http.method, 'POST');
  assert.equal(http.path, '/p/q?x=1');
  assert.equal(http.host, 'example.com');
  assert.equal(http.scheme, 'http');
  assert.equal(http.query, 'x=1');
  assert.equal(http.protocol, 'HTTP/1.1');
  assert.equal(http.size, 6);
  assert.equal(http.body, 'héllo');
  assert.equal(http.headers['x-a'], '1,2');
  assert.equal(http.headers[':method'], 'POST');
  assert.equal(http.headers['x-envoy-auth-partial-body'], 'true');
  assert.deepEqual(a.context_extensions, { tenant: 'acme' });
  assert.ok(a.request.time.seconds > 1_700_000_000);
});

test('CheckResponse: ok with header mutations, denied with status, headers and body', () => {
  const ok = CheckResponse.encode(CheckResponse.fromObject({
    status: { code: 0 },
    ok_response: {
      headers: [{ header: { key: 'X-Set', value: 's' } }, { header: { key: 'x-app', value: 'a' }, append: { value: true } }],
      headers_to_remove: ['x-gone'],
      response_headers_to_add: [{ header: { key: 'x-r', value: 'r' } }, { header: { key: 'x-o', value: 'o' }, append_action: 2 }],
    },
  })).finish();
  const r = checkResponse(Buffer.from(ok));
  assert.equal(r.status, CheckStatus.Ok);
  assert.deepEqual(r.headersToSet, ['x-set', 's']);
  assert.deepEqual(r.headersToAppend, ['x-app', 'a']);
  assert.deepEqual(r.headersToRemove, ['x-gone']);
  assert.deepEqual(r.responseHeadersToAdd, ['x-r', 'r']);
  assert.deepEqual(r.responseHeadersToSet, ['x-o', 'o']);

  const denied = CheckResponse.encode(CheckResponse.fromObject({
    status: { code: 7 },
    denied_response: { status: { code: 429 }, headers: [{ header: { key: 'retry-after', value: '1' } }], body: 'slow down' },
  })).finish();
  const d = checkResponse(Buffer.from(denied));
  assert.equal(d.status, CheckStatus.Denied);
  assert.equal(d.statusCode, 429);
  assert.deepEqual(d.headersToSet, ['retry-after', '1']);
  assert.equal(d.body, 'slow down');

  // No denied_response: 403.
  assert.equal(checkResponse(Buffer.from(CheckResponse.encode(CheckResponse.fromObject({ status: { code: 16 } })).finish())).statusCode, 403);
});
