// Route table scale: what 10,000 routes in one virtual host (plain prefix and path routes, the match
// at the end) and 10,000 virtual hosts with exact domains cost against a table of one route.
//
//   node perf/route-scale.ts [--seconds 3] [--rounds 2] [--micro-only]
//
// Two measurements, each printed with its ratio to the one-route table:
// - micro: RouteTable.route() in this thread (ops/s), no sockets;
// - end to end: a Legate with one worker answering a direct_response, loaded with wrk (autocannon
//   when wrk is absent) for --seconds per config, --rounds rounds alternating the configs.
// Short runs on a shared box are noisy: read the ratios, not the absolute numbers.
import { parseArgs } from 'node:util';
import { RouteTable } from '../src/router/route-table.ts';
import { RequestHeaders } from '../src/http/types.ts';
import type { RouteSnap, VirtualHostSnap } from '../src/router/config.ts';
import { hcmListener, startLegate } from '../test/helpers/legate.ts';
import { autocannon } from '../bench/load/autocannon.ts';
import { wrk } from '../bench/load/wrk.ts';
import { which } from '../bench/lib/which.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '2' }, 'micro-only': { type: 'boolean' } },
});
const N = 10_000;

/** Route i of the big table: prefixes and exact paths that never match /target. */
const filler = (i: number) => (i % 2 === 0 ? { prefix: `/p${i}/` } : { path: `/e${i}` });

// ---- micro --------------------------------------------------------------------------------------

function snapRoute(m: { prefix?: string; path?: string }, name: string): RouteSnap {
  return {
    name, headers: [], action: { kind: 'direct', status: 200, body: 'ok' }, metadata: null, perFilterConfig: null,
    match: m.path !== undefined ? { kind: 'path', value: m.path, caseSensitive: true } : { kind: 'prefix', value: m.prefix!, caseSensitive: true },
  };
}
function opsPerSec(t: RouteTable, authority: string): number {
  const req = new RequestHeaders('GET', '/target/x?y=1', authority, 'http', 'HTTP/1.1', ['user-agent', 'x']);
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += t.route(req) === null ? 0 : 1;
  const iters = 500_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) sink += t.route(req) === null ? 0 : 1;
  const ns = Number(process.hrtime.bigint() - t0);
  if (sink === 0) throw new Error('no route matched');
  return iters / (ns / 1e9);
}
function micro(): void {
  const target = snapRoute({ prefix: '/target' }, 'target');
  const one = new RouteTable([{ name: 'v', domains: ['*'], routes: [target] }]);
  const many = new RouteTable([{ name: 'v', domains: ['*'], routes: [...Array.from({ length: N }, (_, i) => snapRoute(filler(i), `r${i}`)), target] }]);
  const hosts: VirtualHostSnap[] = Array.from({ length: N }, (_, i) => ({ name: `h${i}`, domains: [`h${i}.example.com`], routes: [target] }));
  const vhosts = new RouteTable(hosts);
  // Alternate authorities so the last-authority cache does not answer every lookup.
  const base = opsPerSec(one, 'a');
  const r = opsPerSec(many, 'a');
  const v = opsPerSec(vhosts, `h${N - 1}.example.com`);
  console.log('micro: RouteTable.route() ops/s (ratio to 1 route)');
  console.log(`  1 route              ${base.toFixed(0).padStart(12)}`);
  console.log(`  ${N} routes         ${r.toFixed(0).padStart(12)}  ${(r / base).toFixed(3)}`);
  console.log(`  ${N} vhosts (cached) ${v.toFixed(0).padStart(12)}  ${(v / base).toFixed(3)}`);
}

// ---- end to end ---------------------------------------------------------------------------------

function yaml(vhosts: string): string {
  // (The load tools send Host: 127.0.0.1:<port>; the vhost config routes on 127.0.0.1.)
  return `
static_resources:
  listeners:${hcmListener('proxy', 'scale', '', { virtualHosts: vhosts, hcmExtra: `
          generate_request_id: false
          strip_any_host_port: true` })}
`;
}
const TARGET = `
              - match: { prefix: "/target" }
                direct_response: { status: 200, body: { inline_string: "ok" } }`;
const CONFIGS: Record<string, string> = {
  '1 route': yaml(`
            - name: v
              domains: ["*"]
              routes:${TARGET}`),
  [`${N} routes`]: yaml(`
            - name: v
              domains: ["*"]
              routes:${Array.from({ length: N }, (_, i) => {
                const f = filler(i);
                return `
              - match: { ${'path' in f ? `path: "${f.path}"` : `prefix: "${f.prefix}"`} }
                direct_response: { status: 404 }`;
              }).join('')}${TARGET}`),
  [`${N} vhosts`]: yaml(Array.from({ length: N }, (_, i) => `
            - name: h${i}
              domains: ["${i === N - 1 ? '127.0.0.1' : `h${i}.example.com`}"]
              routes:${TARGET}`).join('')),
};

async function endToEnd(): Promise<void> {
  const wrkBin = which('wrk');
  const tool = wrkBin !== null ? wrk(wrkBin) : autocannon(process.execPath);
  if (tool === null) throw new Error('neither wrk nor autocannon');
  const seconds = Number(values.seconds);
  const rps: Record<string, number[]> = {};
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, y] of Object.entries(CONFIGS)) {
      const l = await startLegate(y, { concurrency: 1, timeoutMs: 60_000 });
      try {
        const url = `http://127.0.0.1:${l.port('proxy')}/target/x`;
        const res = await tool.run({ url, connections: 32, threads: 1, durationS: seconds, newConn: false });
        if (res.badStatus > 0) throw new Error(`${name}: ${res.badStatus} bad responses`);
        (rps[name] ??= []).push(res.rps);
      } finally {
        await l.stop();
      }
    }
  }
  const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  const base = median(rps['1 route']);
  console.log(`end to end: ${tool.name}, 32 connections, ${seconds}s x ${values.rounds} rounds, one worker (median rps, ratio to 1 route)`);
  for (const [name, v] of Object.entries(rps)) {
    console.log(`  ${name.padEnd(15)} ${median(v).toFixed(0).padStart(8)}  ${(median(v) / base).toFixed(3)}   (${v.map((x) => x.toFixed(0)).join(', ')})`);
  }
}

micro();
if (values['micro-only'] !== true) await endToEnd();
