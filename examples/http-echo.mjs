// A tiny HTTP echo server for examples/filter-json-rewrite.yaml: answers each request with its
// body, and its request headers as x-echo-* response headers.
//   node examples/http-echo.mjs [port]      (default 8080)
import http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    for (const [k, v] of Object.entries(req.headers)) res.setHeader(`x-echo-${k}`, String(v));
    res.setHeader('content-type', req.headers['content-type'] ?? 'application/octet-stream');
    res.end(Buffer.concat(chunks));
  });
}).listen(port, '127.0.0.1', () => process.stdout.write(`echo on 127.0.0.1:${port}\n`));
