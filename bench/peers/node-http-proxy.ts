// node-http-proxy peer: the http-proxy package in one process with a keep-alive agent to the upstream.
// Usage: node bench/peers/node-http-proxy.ts <listen-port> <upstream-port>

import { createServer, Agent } from 'node:http';
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import { createRequire } from 'node:module';

// http-proxy ships no types and @types/http-proxy is not a dependency: describe the part we call.
interface ProxyServer {
  web(req: IncomingMessage, res: ServerResponse): void;
  on(event: 'error', fn: (err: Error, req: IncomingMessage, res: ServerResponse) => void): void;
  on(event: 'proxyReq', fn: (proxyReq: ClientRequest) => void): void;
  on(event: 'proxyRes', fn: (proxyRes: IncomingMessage) => void): void;
}
interface HttpProxyModule {
  createProxyServer(options: { target: string; agent: Agent; xfwd?: boolean }): ProxyServer;
}

const require = createRequire(import.meta.url);
const httpProxy = require('http-proxy') as HttpProxyModule;

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);

const proxy = httpProxy.createProxyServer({
  target: `http://127.0.0.1:${upstreamPort}`,
  agent: new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 60_000 }),
});
// http-proxy forwards Connection headers both ways, but they are hop-by-hop (RFC 9110 section 7.6.1).
// In --new-conn mode the client's "Connection: close" would close every upstream connection and defeat
// the agent's pool; and the upstream's "keep-alive" would be relayed to a client whose connection Node is
// about to close. Dropping both lets each hop state its own: http-proxy then answers the client with the
// client's own Connection value.
proxy.on('proxyReq', (proxyReq) => {
  proxyReq.removeHeader('connection');
});
proxy.on('proxyRes', (proxyRes) => {
  delete proxyRes.headers.connection;
  delete proxyRes.headers['keep-alive'];
});
proxy.on('error', (_err, _req, res) => {
  if (!res.headersSent) res.writeHead(502, { 'content-length': 0 });
  res.end();
});

const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 600_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
