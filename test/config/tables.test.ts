// The declarative tables (extensions.ts, supported.ts) must agree with Envoy's protos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXTENSIONS, EXTENSION_SLOTS, extensionByName, extensionByType } from '../../src/config/extensions.ts';
import { SUPPORTED } from '../../src/config/supported.ts';
import { PRELOADED_PROTOS, findMessageType, isEnum, loadProtos, type PbField } from '../../src/config/protos.ts';

test('every supported message, field and enum value exists in the protos', () => {
  for (const [msg, fields] of SUPPORTED) {
    const t = findMessageType(msg);
    assert.ok(t, `message ${msg}`);
    for (const [name, support] of fields) {
      const f: PbField | undefined = t.fields[name];
      assert.ok(f, `${msg}.${name}`);
      if (support.enumValues !== undefined) {
        f.resolve();
        const e: unknown = f.resolvedType;
        assert.ok(isEnum(e), `${msg}.${name} is an enum`);
        for (const v of support.enumValues) assert.ok(Object.hasOwn(e.values, v), `${msg}.${name} = ${v}`);
      }
    }
  }
});

test('extension names and types are unique; supported ones resolve in the preloaded protos', () => {
  loadProtos();
  const names = new Set<string>();
  const types = new Set<string>();
  for (const e of EXTENSIONS) {
    assert.ok(!names.has(e.name), `duplicate name ${e.name}`);
    names.add(e.name);
    assert.equal(extensionByName(e.name), e);
    for (const t of e.types) {
      assert.ok(!types.has(t), `duplicate type ${t}`);
      types.add(t);
      assert.equal(extensionByType(`type.googleapis.com/${t}`), e);
    }
    if (e.supported) {
      for (const t of e.types) {
        assert.ok(findMessageType(t), `${e.name}: ${t}`);
        assert.ok(SUPPORTED.has(t), `${t} is in supported.ts`);
      }
    }
  }
  assert.equal(PRELOADED_PROTOS[0], 'envoy/config/bootstrap/v3/bootstrap.proto');
});

test('the extension slots are messages with name and typed_config', () => {
  for (const msg of EXTENSION_SLOTS.keys()) {
    const t = findMessageType(msg);
    assert.ok(t, msg);
    assert.ok(t.fields.name && t.fields.typed_config, msg);
  }
});

test('the types of unsupported extensions, where the protos ship them, are real messages', (t) => {
  // Some live in Envoy's contrib tree, which grpc-js-xds does not ship; those are refused by name only.
  const missing: string[] = [];
  for (const e of EXTENSIONS) {
    for (const type of e.types) if (findMessageType(type) === null) missing.push(type);
  }
  t.diagnostic(`not in the shipped protos: ${missing.join(', ')}`);
  for (const m of missing) assert.match(m, /mysql_proxy|postgres_proxy|kafka_broker|client_ssl_auth|dynamo|open_telemetry|fluentd/);
});
