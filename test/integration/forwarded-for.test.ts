// x-forwarded-for and the client address the stream uses (%DOWNSTREAM_REMOTE_ADDRESS%), as Envoy's
// use_remote_address and xff_num_trusted_hops define them: the peer with use_remote_address and no
// trusted hops; the Nth address from the right of the incoming x-forwarded-for with N trusted hops;
// without use_remote_address the (N+1)th, and nothing is appended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileAccessLog, proxyConfig } from '../helpers/legate.ts';
import { pollLog, rawRequest } from './fixtures/clients.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const CASES: { name: string; useRemote: boolean; hops: number; xff: string | null; upstreamXff: string | undefined; logged: string }[] = [
  { name: 'use_remote_address, no trusted hops', useRemote: true, hops: 0, xff: '1.1.1.1, 2.2.2.2',
    upstreamXff: '1.1.1.1, 2.2.2.2,127.0.0.1', logged: '127.0.0.1' },
  { name: 'use_remote_address, 1 trusted hop', useRemote: true, hops: 1, xff: '1.1.1.1, 2.2.2.2',
    upstreamXff: '1.1.1.1, 2.2.2.2,127.0.0.1', logged: '2.2.2.2:0' },
  { name: 'use_remote_address, 2 trusted hops', useRemote: true, hops: 2, xff: '1.1.1.1, 2.2.2.2',
    upstreamXff: '1.1.1.1, 2.2.2.2,127.0.0.1', logged: '1.1.1.1:0' },
  { name: 'use_remote_address, more trusted hops than addresses: the peer', useRemote: true, hops: 3,
    xff: '1.1.1.1, 2.2.2.2', upstreamXff: '1.1.1.1, 2.2.2.2,127.0.0.1', logged: '127.0.0.1' },
  { name: 'no use_remote_address: the last address', useRemote: false, hops: 0, xff: '1.1.1.1, 2.2.2.2',
    upstreamXff: '1.1.1.1, 2.2.2.2', logged: '2.2.2.2:0' },
  { name: 'no use_remote_address, 1 trusted hop', useRemote: false, hops: 1, xff: '1.1.1.1, 2.2.2.2',
    upstreamXff: '1.1.1.1, 2.2.2.2', logged: '1.1.1.1:0' },
  { name: 'no use_remote_address, no x-forwarded-for: the peer', useRemote: false, hops: 0, xff: null,
    upstreamXff: undefined, logged: '127.0.0.1' },
  { name: 'an address that is not an IP is not trusted', useRemote: false, hops: 0, xff: '1.1.1.1, bogus',
    upstreamXff: '1.1.1.1, bogus', logged: '127.0.0.1' },
];

for (const c of CASES) {
  test(`x-forwarded-for: ${c.name}`, async () => {
    const up = await httpUp();
    const logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-xff-')), 'access.log');
    const hcmExtra = `\n          use_remote_address: ${c.useRemote}\n          xff_num_trusted_hops: ${c.hops}`
      + fileAccessLog(logPath, '%DOWNSTREAM_REMOTE_ADDRESS%\\n');
    const l = await legateFor(proxyConfig([up.port], { hcmExtra }));
    const xff = c.xff === null ? '' : `X-Forwarded-For: ${c.xff}\r\n`;
    const r = await rawRequest(l.port('proxy'), `GET /xff HTTP/1.1\r\nHost: h\r\n${xff}Connection: close\r\n\r\n`);
    assert.equal(r.status, 200);
    assert.equal(up.requests.at(-1)!.headers['x-forwarded-for'], c.upstreamXff);
    const log = await pollLog(logPath, (t) => t.endsWith('\n'));
    const line = log.trim();
    // The peer's port is its ephemeral one: only its address is compared.
    if (c.logged === '127.0.0.1') assert.match(line, /^127\.0\.0\.1:\d+$/);
    else assert.equal(line, c.logged);
  });
}
