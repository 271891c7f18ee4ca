// The downstream HTTP/1 codec through a real Legate, over raw sockets: a request split at every
// byte boundary (and at random ones, and byte by byte) must reach the upstream the same; malformed
// requests get a 400 and the connection is closed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLegate, proxyConfig, type Legate } from '../helpers/legate.ts';
import { httpUpstream, type HttpUpstream } from './fixtures/upstreams.ts';
import { RawClient, pollStat } from './fixtures/clients.ts';
import { mulberry32 } from '../helpers/prng.ts';

let up: HttpUpstream;
let legate: Legate;
let port: number;

before(async () => {
  // The upstream answers with what it saw, as JSON.
  up = await httpUpstream((req, res, body) => {
    const seen = JSON.stringify({
      method: req.method, url: req.url, version: req.httpVersion, host: req.headers.host,
      custom: req.headers['x-custom'], other: req.headers['x-other'], multi: req.headers['x-multi'],
      te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: body.toString('latin1'),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(seen) });
    res.end(seen);
  });
  legate = await startLegate(proxyConfig([up.port]));
  port = legate.port('proxy');
});

after(async () => {
  await legate?.stop();
  await up?.close();
});

const REQ = Buffer.from(
  'POST /split/path?q=a%20b HTTP/1.1\r\n'
  + 'Host: split.example\r\n'
  + 'X-Custom: some value\r\n'
  + 'X-Other:   padded   \r\n'
  + 'X-Multi: one\r\n'
  + 'X-Multi: two\r\n'
  + 'Transfer-Encoding: chunked\r\n'
  + '\r\n'
  + '5\r\nhello\r\n'
  + '7;ext=1\r\n, world\r\n'
  + '0\r\n\r\n', 'latin1');

const EXPECTED = {
  method: 'POST', url: '/split/path?q=a%20b', version: '1.1', host: 'split.example',
  custom: 'some value', other: 'padded', multi: 'one, two', te: 'chunked', body: 'hello, world',
};

/** Send `pieces` in order on a fresh connection, each as its own write with a pause between, and
 *  return what the upstream says it saw. */
async function sendInPieces(pieces: Buffer[], gapMs = 2): Promise<unknown> {
  const c = await RawClient.connect(port);
  try {
    for (let i = 0; i < pieces.length; i++) {
      await c.write(pieces[i]);
      if (i < pieces.length - 1) await sleep(gapMs);
    }
    const r = await c.readResponse();
    assert.equal(r.status, 200, r.body.toString());
    return JSON.parse(r.body.toString());
  } finally {
    c.destroy();
  }
}


test('the unsplit request reaches the upstream as sent', async () => {
  assert.deepEqual(await sendInPieces([REQ]), EXPECTED);
});

test('a request split in two at every byte boundary reaches the upstream the same', async () => {
  for (let i = 1; i < REQ.length; i++) {
    const seen = await sendInPieces([REQ.subarray(0, i), REQ.subarray(i)]);
    assert.deepEqual(seen, EXPECTED, `split at byte ${i}: ${JSON.stringify(REQ.subarray(0, i).toString('latin1'))}`);
  }
});

test('a request written one byte at a time reaches the upstream the same', async () => {
  const bytes = Array.from({ length: REQ.length }, (_, i) => REQ.subarray(i, i + 1));
  assert.deepEqual(await sendInPieces(bytes, 1), EXPECTED);
});

test('a request split at random boundaries (seeded) reaches the upstream the same', async () => {
  const seed = 0x1e6a7e;
  const rnd = mulberry32(seed);
  for (let round = 0; round < 20; round++) {
    const cuts = new Set<number>();
    const n = 2 + Math.floor(rnd() * 8);
    while (cuts.size < n) cuts.add(1 + Math.floor(rnd() * (REQ.length - 1)));
    const sorted = [...cuts].sort((a, b) => a - b);
    const pieces: Buffer[] = [];
    let at = 0;
    for (const c of sorted) { pieces.push(REQ.subarray(at, c)); at = c; }
    pieces.push(REQ.subarray(at));
    assert.deepEqual(await sendInPieces(pieces, 1), EXPECTED, `seed ${seed} round ${round}: cuts ${sorted.join(',')}`);
  }
});

test('two pipelined requests written one byte at a time are answered in order', async () => {
  const second = Buffer.from('GET /second HTTP/1.1\r\nHost: b.example\r\nX-Custom: 2\r\n\r\n', 'latin1');
  const all = Buffer.concat([REQ, second]);
  const c = await RawClient.connect(port);
  try {
    for (let i = 0; i < all.length; i++) {
      await c.write(all.subarray(i, i + 1));
      if (i % 4 === 3) await sleep(1);
    }
    const r1 = await c.readResponse();
    const r2 = await c.readResponse();
    assert.deepEqual(JSON.parse(r1.body.toString()), EXPECTED);
    const s2 = JSON.parse(r2.body.toString());
    assert.equal(s2.url, '/second');
    assert.equal(s2.host, 'b.example');
    assert.equal(s2.custom, '2');
    assert.equal(s2.body, '');
  } finally {
    c.destroy();
  }
});

const MALFORMED: { name: string; bytes: string; reachesUpstream?: boolean }[] = [
  { name: 'bad characters in the method', bytes: 'G@T / HTTP/1.1\r\nHost: h\r\n\r\n' },
  { name: 'a space in a header name', bytes: 'GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n' },
  { name: 'a NUL in a header value', bytes: 'GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n' },
  {
    name: 'Content-Length and Transfer-Encoding together',
    bytes: 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  },
  {
    name: 'two different Content-Length values',
    bytes: 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  },
  {
    // The head is fine, so the request may already be on its way upstream when the body fails.
    name: 'a bad chunk size after good headers',
    bytes: 'POST /bad-chunk HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    reachesUpstream: true,
  },
];

for (const m of MALFORMED) {
  test(`malformed request, ${m.name}: 400, connection closed, downstream_cx_protocol_error`, async () => {
    const statName = 'http.ingress.downstream_cx_protocol_error';
    const before = (await legate.stats()).get(statName) ?? 0;
    const upBefore = up.requests.length;
    const c = await RawClient.connect(port);
    try {
      await c.write(Buffer.from(m.bytes, 'latin1'));
      const r = await c.readResponse();
      assert.match(r.statusLine, /^HTTP\/1\.1 400 /);
      assert.equal(r.headers.connection, 'close');
      await c.waitForEnd();
    } finally {
      c.destroy();
    }
    assert.equal(await pollStat(legate, statName, (v) => v === before + 1), before + 1);
    if (m.reachesUpstream !== true) assert.equal(up.requests.length, upBefore, 'nothing reached the upstream');
  });
}

test('HTTP/1.1 request without Host: 400 and the connection is closed', async () => {
  const upBefore = up.requests.length;
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /no-host HTTP/1.1\r\nUser-Agent: raw\r\n\r\n');
    const r = await c.readResponse();
    assert.match(r.statusLine, /^HTTP\/1\.1 400 /);
    await c.waitForEnd();
  } finally {
    c.destroy();
  }
  assert.equal(up.requests.length, upBefore);
});

test('a request line without an HTTP version (HTTP/0.9) is refused with a 4xx and not proxied', async () => {
  // llhttp parses it as HTTP/0.9; Envoy treats that as HTTP/1.0 and refuses it (426 without
  // accept_http_10). It must never go upstream as an HTTP/1.1 request.
  const upBefore = up.requests.length;
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /nine\r\nHost: h\r\n\r\n');
    const r = await c.readResponse();
    assert.ok(r.status >= 400 && r.status < 500, r.statusLine);
    await c.waitForEnd();
  } finally {
    c.destroy();
  }
  assert.equal(up.requests.length, upBefore, 'the HTTP/0.9 request reached the upstream');
});

test('request headers over max_request_headers_kb (60 KiB): 431 and the connection is closed', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write(`GET /big HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    const r = await c.readResponse();
    assert.match(r.statusLine, /^HTTP\/1\.1 431 /);
    await c.waitForEnd();
  } finally {
    c.destroy();
  }
});

test('after all that, a well-formed request on a new connection still works', async () => {
  assert.deepEqual(await sendInPieces([REQ]), EXPECTED);
});
