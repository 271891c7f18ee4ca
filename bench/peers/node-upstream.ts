// Upstream used when nginx is not installed: 100 bytes for every request.
// Usage: node bench/peers/node-upstream.ts <port>

import { createServer } from 'node:http';
import { PAYLOAD } from '../targets/payload.ts';

const port = Number(process.argv[2]);
const body = Buffer.from(PAYLOAD);

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
// Node closes idle keep-alive connections after 5 s by default; a target sits idle while the others run
// their rounds, so its pooled upstream connections would be closed under it (see targets/upstream.ts).
server.keepAliveTimeout = 600_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
