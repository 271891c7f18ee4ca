// The StatusCode table against Envoy's proto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProtos, messageType, isEnum } from '../../src/config/protos.ts';
import { STATUS_CODES, statusCodeOf } from '../../src/http/status-names.ts';

test('STATUS_CODES is envoy.type.v3.StatusCode', () => {
  loadProtos();
  const e = messageType('envoy.type.v3.HttpStatus').fields.code.resolvedType;
  assert.ok(isEnum(e));
  assert.deepEqual({ ...STATUS_CODES }, { ...e.values });
  assert.equal(statusCodeOf('Forbidden'), 403);
  assert.equal(statusCodeOf(418), 418);
  assert.equal(statusCodeOf(undefined), 0);
});
