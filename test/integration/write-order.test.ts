// Responses are queued to the end of the loop iteration (network/write-batch.ts); a direct write
// or an end on the same connection in the same iteration must not overtake them: a pipelined
// `Expect: 100-continue` parsed right after a queued response (its 100 Continue is written
// directly), and a client FIN read in the same iteration as the response (Node ends our side
// by itself then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig } from '../helpers/legate.ts';
import { RawClient } from './fixtures/clients.ts';
import { listen, withTimeout } from './fixtures/upstreams.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';

test('a 100 Continue written directly does not overtake the queued response before it', async () => {
  const up = await httpUp((req, res, body) => {
    const out = req.url === '/a' ? 'aaaaa' : `posted:${body.toString()}`;
    res.writeHead(200, { 'content-length': out.length });
    res.end(out);
  });
  const l = await legateFor(proxyConfig([up.port]));
  for (let round = 0; round < 5; round++) {
    const c = await RawClient.connect(l.port('proxy'));
    try {
      await c.write('GET /a HTTP/1.1\r\nHost: h\r\n\r\n'
        + 'POST /b HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      const first = await c.readResponse();
      assert.equal(first.status, 200, `round ${round}: the GET's response comes first`);
      assert.equal(first.body.toString(), 'aaaaa');
      const cont = await c.readResponse();
      assert.equal(cont.status, 100);
      await c.write('hello');
      const posted = await c.readResponse();
      assert.equal(posted.status, 200);
      assert.equal(posted.body.toString(), 'posted:hello');
    } finally {
      c.destroy();
    }
  }
});

test('a client that half-closes gets the response read in the same loop iteration as its FIN', async () => {
  // Legate is stopped (SIGSTOP) while the upstream answers and the client sends its FIN, so it
  // reads both in one poll phase: the response is queued, then the FIN makes Node end the socket.
  let answer: (() => void) | null = null;
  const sockets = new Set<net.Socket>();
  const up = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    // Every request (the pooled connection carries one per round) is answered on cue.
    s.on('data', () => { answer = () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'); });
  });
  const upPort = await listen(up);
  track(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => up.close(() => r()));
  });
  const l = await legateFor(proxyConfig([upPort]));
  for (let round = 0; round < 3; round++) {
    answer = null;
    const c = net.connect({ port: l.port('proxy'), host: '127.0.0.1' });
    let got = '';
    c.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    c.on('error', () => {});
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    try {
      await new Promise<void>((r) => c.on('connect', () => r()));
      c.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
      for (let i = 0; i < 200 && answer === null; i++) await sleep(10);
      assert.ok(answer !== null, `round ${round}: the request reached the upstream`);
      l.proc.kill('SIGSTOP');
      try {
        answer!();
        await sleep(30);
        c.end();
        await sleep(50);
      } finally {
        l.proc.kill('SIGCONT');
      }
      await withTimeout(closed, 5000, 'the connection to close');
      assert.match(got, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/, `round ${round}: ${JSON.stringify(got)}`);
    } finally {
      c.destroy();
    }
  }
});
