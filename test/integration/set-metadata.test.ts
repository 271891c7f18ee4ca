// envoy.filters.http.set_metadata through a real Legate: the metadata it sets is what
// %DYNAMIC_METADATA(...)% prints in the access log (text and typed JSON) and in a header_mutation
// value the upstream receives; a second filter on the same namespace merges into it (lists
// appended, structs merged, scalars replaced) when it may overwrite, and is counted in
// http.<stat_prefix>.set_metadata.overwrite_denied when it may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { proxyConfig } from '../helpers/legate.ts';
import { pollLog, rawRequest } from './fixtures/clients.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const SET = 'type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config';
const MUTATE = 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';

test('set metadata is printed by %DYNAMIC_METADATA%, merged by a later filter, overwrites denied are counted', async () => {
  const up = await httpUp((_req, res) => res.end('ok'));
  const dir = mkdtempSync(join(tmpdir(), 'legate-set-metadata-'));
  const textLog = join(dir, 'text.log');
  const jsonLog = join(dir, 'json.log');
  const legate = await legateFor(proxyConfig([up.port], {
    httpFilters: `
          - name: first
            typed_config:
              "@type": ${SET}
              metadata:
              - metadata_namespace: acme.tags
                value: { team: payments, tier: 1, list: [a], nested: { x: 1 } }
          - name: second
            typed_config:
              "@type": ${SET}
              metadata:
              - metadata_namespace: acme.tags
                allow_overwrite: true
                value: { tier: 2, list: [b, c], nested: { y: true } }
              - metadata_namespace: acme.tags
                value: { team: never }
          - name: mutate
            typed_config:
              "@type": ${MUTATE}
              mutations:
                request_mutations:
                - append: { header: { key: x-team, value: "%DYNAMIC_METADATA(acme.tags:team)%" } }
                - append: { header: { key: x-nested, value: "%DYNAMIC_METADATA(acme.tags:nested)%" } }
                - append: { header: { key: x-missing, value: "%DYNAMIC_METADATA(acme.tags:nope)%" } }`,
    hcmExtra: `
          access_log:
          - name: text
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${textLog}
              log_format:
                text_format_source:
                  inline_string: "%DYNAMIC_METADATA(acme.tags:tier)% %DYNAMIC_METADATA(acme.tags:list)% %DYNAMIC_METADATA(other)% %DYNAMIC_METADATA(acme.tags:team):3%\\n"
          - name: json
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${jsonLog}
              log_format:
                json_format:
                  all: "%DYNAMIC_METADATA(acme.tags)%"
                  tier: "%DYNAMIC_METADATA(acme.tags:tier)%"
                  missing: "%DYNAMIC_METADATA(acme.tags:nope)%"`,
  }));
  const seen = up.nextRequest();
  const res = await rawRequest(legate.port('proxy'), 'GET /m HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.equal(res.status, 200);
  const req = await seen;
  assert.equal(req.headers['x-team'], 'payments');
  assert.equal(req.headers['x-nested'], '{"x":1,"y":true}');
  assert.equal(req.headers['x-missing'], undefined);

  const text = await pollLog(textLog, (t) => t.endsWith('\n'));
  assert.equal(text, '2 ["a","b","c"] - pay\n');
  const json = JSON.parse(await pollLog(jsonLog, (t) => t.endsWith('\n')));
  assert.deepEqual(json, {
    all: { team: 'payments', tier: 2, list: ['a', 'b', 'c'], nested: { x: 1, y: true } },
    tier: 2,
    missing: null,
  });
  const stats = await legate.stats();
  assert.equal(stats.get('http.ingress.set_metadata.overwrite_denied'), 1);
});

test('the deprecated namespace + value pair sets metadata; without an entry that can be denied, overwrite_denied is not a stat', async () => {
  const up = await httpUp((_req, res) => res.end('ok'));
  const legate = await legateFor(proxyConfig([up.port], {
    httpFilters: `
          - name: only
            typed_config:
              "@type": ${SET}
              metadata_namespace: legacy
              value: { k: v }
          - name: mutate
            typed_config:
              "@type": ${MUTATE}
              mutations:
                request_mutations:
                - append: { header: { key: x-k, value: "%DYNAMIC_METADATA(legacy:k)%" } }`,
  }));
  const seen = up.nextRequest();
  const res = await rawRequest(legate.port('proxy'), 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.equal(res.status, 200);
  assert.equal((await seen).headers['x-k'], 'v');
  assert.equal((await legate.stats()).has('http.ingress.set_metadata.overwrite_denied'), false);
});
