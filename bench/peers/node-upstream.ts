// Upstream used when nginx is not installed: 100 bytes for every request, STREAM_BYTES at STREAM_PATH,
// the JSON document at JSON_PATH.
// Usage: node bench/peers/node-upstream.ts <port>

import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import { JSON_DOC, JSON_PATH, PAYLOAD, STREAM_BYTES, STREAM_PATH } from '../targets/payload.ts';

const port = Number(process.argv[2]);
const body = Buffer.from(PAYLOAD);
const json = Buffer.from(JSON_DOC);
const chunk = Buffer.alloc(1024 * 1024, 0);

/** Writes the rest of the stream, pausing on backpressure. */
function pump(this: ServerResponse & { left?: number }): void {
  while (this.left! > 0) {
    this.left! -= chunk.length;
    if (!this.write(chunk)) return;
  }
  this.end();
}

const server = createServer((req, res) => {
  if (req.url === STREAM_PATH) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': STREAM_BYTES });
    const r = res as ServerResponse & { left?: number };
    r.left = STREAM_BYTES;
    res.on('drain', pump);
    pump.call(r);
    return;
  }
  if (req.url === JSON_PATH) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
    res.end(json);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
// Node closes idle keep-alive connections after 5 s by default; a target sits idle while the others run
// their rounds, so its pooled upstream connections would be closed under it (see targets/upstream.ts).
server.keepAliveTimeout = 600_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
