// Responses are queued to the end of the loop iteration (network/write-batch.ts); a direct write
// on the same connection in the same iteration must not overtake them. Here a pipelined
// `Expect: 100-continue` request is parsed right after the first response was queued: its
// 100 Continue is written directly, and must still come after that response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyConfig } from '../helpers/legate.ts';
import { RawClient } from './fixtures/clients.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';

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
