// Runtime values as Envoy parses them (SnapshotImpl::createEntry, ValueUtil::loadFromYaml) and
// the Snapshot's reading API (getInteger, getDouble, getBoolean, featureEnabled with a percent and
// with a FractionalPercent), after Envoy's runtime_impl_test.cc: StaticLoaderImplTest.ProtoParsing,
// DiskLoaderImplTest.All and PercentHandling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEntry, createEntryFromYaml, formatG, simpleAtod, structDebugString, yamlValue, type JsonValue } from '../../src/runtime/entry.ts';
import { EMPTY_SNAPSHOT, NULL_LOADER, RuntimeSnapshot, ThreadLoader } from '../../src/runtime/snapshot.ts';
import type { FractionalPercent, RuntimeEntry } from '../../src/runtime/types.ts';

function staticSnapshot(values: Record<string, JsonValue>): RuntimeSnapshot {
  return new RuntimeSnapshot(new Map(Object.entries(values).map(([k, v]) => [k, createEntry(v)])));
}
function yamlSnapshot(values: Record<string, string>): RuntimeSnapshot {
  return new RuntimeSnapshot(new Map(Object.entries(values).map(([k, v]) => [k, createEntryFromYaml(v)])));
}
const entry = (e: RuntimeEntry) => ({ ...e });

test('static values (JSON): numbers, booleans, strings, FractionalPercent structs', () => {
  assert.deepEqual(entry(createEntry(2)), { raw: '2', bool: true, double: 2, uint: 2, fraction: null });
  assert.deepEqual(entry(createEntry(0)), { raw: '0', bool: false, double: 0, uint: 0, fraction: null });
  // A double is not a boolean; its integer reading is floored.
  assert.deepEqual(entry(createEntry(23.2)), { raw: '23.2', bool: null, double: 23.2, uint: 23, fraction: null });
  // A negative number has no integer reading (uint64 in Envoy).
  assert.deepEqual(entry(createEntry(-1)), { raw: '-1', bool: true, double: -1, uint: null, fraction: null });
  // absl::StrCat prints six significant digits.
  assert.equal(createEntry(1234567).raw, '1.23457e+06');
  assert.deepEqual(entry(createEntry(12345678901)), { raw: '12345678901', bool: null, double: 12345678901, uint: 12345678901, fraction: null });
  assert.equal(createEntry(1234567).uint, 1234567);
  assert.equal(createEntry(0.00001).raw, '1e-05');
  assert.deepEqual(entry(createEntry(true)), { raw: 'true', bool: true, double: null, uint: null, fraction: null });
  // A string is read as a double, and no more: "true" and "numerator: 5" in a string are not read
  // (Envoy's reject_invalid_yaml).
  assert.deepEqual(entry(createEntry('hello override')), { raw: 'hello override', bool: null, double: null, uint: null, fraction: null });
  assert.deepEqual(entry(createEntry(' 52 ')), { raw: ' 52 ', bool: true, double: 52, uint: 52, fraction: null });
  assert.equal(createEntry('true').bool, null);
  assert.equal(createEntry('numerator: 5').fraction, null);
  assert.deepEqual(createEntry({ numerator: 52, denominator: 'TEN_THOUSAND' }).fraction, { numerator: 52, denominator: 'TEN_THOUSAND' });
  assert.deepEqual(createEntry({ numerator: 52 }).fraction, { numerator: 52, denominator: 'HUNDRED' });
  assert.deepEqual(createEntry({ denominator: 'MILLION' }).fraction, { numerator: 0, denominator: 'MILLION' });
  assert.deepEqual(createEntry({}).fraction, { numerator: 0, denominator: 'HUNDRED' });
  assert.equal(createEntry({ numerator: 100, denominator: 'NONSENSE' }).fraction, null);
  assert.equal(createEntry({ numerator: 100, foo: 'bar' }).fraction, null);
  // A struct's raw value is its DebugString, fields sorted.
  assert.equal(structDebugString({ numerator: 5, denominator: 'MILLION' }),
    'fields {\n  key: "denominator"\n  value {\n    string_value: "MILLION"\n  }\n}\n'
    + 'fields {\n  key: "numerator"\n  value {\n    number_value: 5\n  }\n}\n');
  assert.equal(createEntry({}).raw, '');
});

test('disk and admin values (YAML, as yaml-cpp reads them)', () => {
  assert.deepEqual(entry(createEntryFromYaml('123')), { raw: '123', bool: true, double: 123, uint: 123, fraction: null });
  // yaml-cpp booleans in lower, upper or capitalized case.
  for (const t of ['true', 'True', 'TRUE', 'yes', 'on', 'y', 'Y']) assert.equal(createEntryFromYaml(t).bool, true, t);
  for (const t of ['false', 'FALSE', 'no', 'Off', 'n']) assert.equal(createEntryFromYaml(t).bool, false, t);
  assert.equal(createEntryFromYaml('FaLsE').bool, null);
  assert.equal(createEntryFromYaml('tRUE').bool, null);
  // Integers with a base from their prefix; raw stays the text.
  assert.deepEqual(entry(createEntryFromYaml('0x1f')), { raw: '0x1f', bool: true, double: 31, uint: 31, fraction: null });
  assert.equal(createEntryFromYaml('017').uint, 15);
  assert.equal(createEntryFromYaml('09').uint, 9);
  // Beyond int32: a string, read as a double.
  assert.deepEqual(entry(createEntryFromYaml('3000000000')), { raw: '3000000000', bool: null, double: 3e9, uint: 3e9, fraction: null });
  // A float is a string to yaml-cpp, then a double.
  assert.deepEqual(entry(createEntryFromYaml('0.5')), { raw: '0.5', bool: null, double: 0.5, uint: 0, fraction: null });
  // A quoted scalar stays a string (and its raw value keeps the quotes).
  assert.deepEqual(entry(createEntryFromYaml('"5"')), { raw: '"5"', bool: null, double: null, uint: null, fraction: null });
  // Envoy's RuntimeModifyParamsInBody value: a FractionalPercent mapping.
  assert.deepEqual(createEntryFromYaml('numerator: 1\ndenominator: TEN_THOUSAND\n').fraction, { numerator: 1, denominator: 'TEN_THOUSAND' });
  assert.deepEqual(createEntryFromYaml('{numerator: 5}').fraction, { numerator: 5, denominator: 'HUNDRED' });
  // Null and lists give an entry with its raw value only.
  assert.deepEqual(entry(createEntryFromYaml('~')), { raw: '~', bool: null, double: null, uint: null, fraction: null });
  assert.deepEqual(entry(createEntryFromYaml('[1, 2]')), { raw: '[1, 2]', bool: null, double: null, uint: null, fraction: null });
  assert.deepEqual(yamlValue('a: 1\nb:\nc: "x"'), { a: 1, b: null, c: 'x' });
  assert.throws(() => createEntryFromYaml('{ nope'), /Flow map must end with a \}/);
});

test('absl::SimpleAtod and %g printing', () => {
  assert.equal(simpleAtod(' 1.5\n'), 1.5);
  assert.equal(simpleAtod('+2'), 2);
  assert.equal(simpleAtod('+-2'), null);
  assert.equal(simpleAtod('1e3'), 1000);
  assert.equal(simpleAtod('.5'), 0.5);
  assert.equal(simpleAtod('5.'), 5);
  assert.equal(simpleAtod('-inf'), -Infinity);
  assert.ok(Number.isNaN(simpleAtod('NaN')));
  assert.equal(simpleAtod('0x10'), null);
  assert.equal(simpleAtod('1.5x'), null);
  assert.equal(simpleAtod(''), null);
  assert.equal(formatG(100000, 6), '100000');
  assert.equal(formatG(1000000, 6), '1e+06');
  assert.equal(formatG(0.0001, 6), '0.0001');
  assert.equal(formatG(0.333333333, 6), '0.333333');
  assert.equal(formatG(-2.5, 6), '-2.5');
});

test('getInteger, getDouble, getBoolean, get (StaticLoaderImplTest.ProtoParsing)', () => {
  const s = staticSnapshot({
    file1: 'hello override', file2: 'world', file3: 2, file4: 123, file10: 52, file11: true, file13: false,
    'subdir.file': 'hello', file_with_double: 23.2, bool_as_int0: 0, bool_as_int1: 1, negative: -3, '': 9,
  });
  assert.equal(s.get('file2'), 'world');
  assert.equal(s.get('subdir.file'), 'hello');
  assert.equal(s.get('invalid'), null);
  assert.equal(s.getInteger('file1', 1), 1);
  assert.equal(s.getInteger('file3', 1), 2);
  assert.equal(s.getInteger('file4', 1), 123);
  assert.equal(s.getInteger('file_with_double', 1), 23);
  assert.equal(s.getInteger('negative', 7), 7);
  assert.equal(s.getInteger('file11', 7), 7);
  assert.equal(s.getDouble('file_with_double', 1.1), 23.2);
  assert.equal(s.getDouble('file3', 3.3), 2);
  assert.equal(s.getDouble('file1', 1.1), 1.1);
  assert.equal(s.getDouble('negative', 0), -3);
  assert.equal(s.getBoolean('file11', false), true);
  assert.equal(s.getBoolean('file13', true), false);
  assert.equal(s.getBoolean('bool_as_int0', true), false);
  assert.equal(s.getBoolean('bool_as_int1', false), true);
  assert.equal(s.getInteger('bool_as_int1', 333), 1);
  // A double is not a boolean, a string is not one: the default.
  assert.equal(s.getBoolean('file_with_double', true), true);
  assert.equal(s.getBoolean('file_with_double', false), false);
  assert.equal(s.getBoolean('file1', true), true);
  assert.equal(s.getBoolean('blah.blah', false), false);
  // Envoy answers an empty key with the default.
  assert.equal(s.getInteger('', 1), 1);
  assert.equal(s.get(''), null);
});

test('featureEnabled: a percent, capped at 100, against random % 100 (DiskLoaderImplTest.All)', () => {
  const s = staticSnapshot({ file3: 2, file4: 123, zero: 0 });
  assert.equal(s.featureEnabled('file3', 1, 1), true);
  assert.equal(s.featureEnabled('file3', 1, 2), false);
  assert.equal(s.featureEnabled('file3', 1, 3), false);
  assert.equal(s.featureEnabled('file3', 1, 101), true);
  assert.equal(s.featureEnabled('missing', 50, 49), true);
  assert.equal(s.featureEnabled('missing', 50, 50), false);
  // Above 100 is always on; 0 always off; both without a random draw.
  assert.equal(s.featureEnabled('file4', 1, 99), true);
  for (let i = 0; i < 50; i++) {
    assert.equal(s.featureEnabled('file4', 0), true);
    assert.equal(s.featureEnabled('zero', 100), false);
  }
  // Drawn: about the configured share.
  let on = 0;
  for (let i = 0; i < 20_000; i++) if (s.featureEnabled('missing', 30)) on++;
  assert.ok(Math.abs(on / 20_000 - 0.3) < 0.02, `${on}`);
  // A 64-bit hash as a bigint is reduced exactly.
  assert.equal(s.featureEnabled('file3', 1, (1n << 64n) - 1n), (((1n << 64n) - 1n) % 100n) < 2n);
});

test('featureEnabledFractional: a FractionalPercent value, a number as a percentage, else the default (ProtoParsing, PercentHandling)', () => {
  const s = staticSnapshot({
    file8: { numerator: 52, denominator: 'HUNDRED' }, file80: { numerator: 52, denominator: 'TEN_THOUSAND' },
    file800: { numerator: 52, denominator: 'MILLION' }, file9: { numerator: 100, denominator: 'NONSENSE' },
    file10: 52, numerator_only: { numerator: 52 }, denominator_only: { denominator: 'HUNDRED' }, empty: {},
    false_friend: { numerator: 100, foo: 'bar' }, file1: 'hello', big: 2 ** 60, zero: 0, five: 5,
  });
  const dflt: FractionalPercent = { numerator: 5, denominator: 'MILLION' };
  assert.equal(s.featureEnabledFractional('file8', dflt, 50), true);
  assert.equal(s.featureEnabledFractional('file80', dflt, 50), true);
  assert.equal(s.featureEnabledFractional('file800', dflt, 50), true);
  assert.equal(s.featureEnabledFractional('file8', dflt, 60), false);
  assert.equal(s.featureEnabledFractional('file80', dflt, 10_051), true);
  assert.equal(s.featureEnabledFractional('file80', dflt, 10_052), false);
  // A number is a percentage of 100.
  assert.equal(s.featureEnabledFractional('file10', dflt, 53), false);
  assert.equal(s.featureEnabledFractional('file10', dflt, 51), true);
  // Not a FractionalPercent: the default (5 in a million).
  for (const k of ['file9', 'false_friend', 'file1', 'missing']) {
    assert.equal(s.featureEnabledFractional(k, dflt, 4), true, k);
    assert.equal(s.featureEnabledFractional(k, dflt, 6), false, k);
  }
  assert.equal(s.featureEnabledFractional('numerator_only', dflt, 50), true);
  assert.equal(s.featureEnabledFractional('numerator_only', dflt, 60), false);
  assert.equal(s.featureEnabledFractional('denominator_only', dflt, 4), false);
  assert.equal(s.featureEnabledFractional('empty', dflt, 4), false);
  // PercentHandling: 0 is 0%, 5 is 5%, and a value above 100 (2^60) is always on.
  assert.equal(s.featureEnabledFractional('zero', dflt, 0), false);
  assert.equal(s.featureEnabledFractional('five', dflt, 4), true);
  assert.equal(s.featureEnabledFractional('five', dflt, 5), false);
  assert.equal(s.featureEnabledFractional('five', dflt, 100), true);
  for (const r of [0, 50, 100, 12389, 23859235]) assert.equal(s.featureEnabledFractional('big', dflt, r), true);
  // A numerator above its denominator is always on.
  assert.equal(s.featureEnabledFractional('missing', { numerator: 111, denominator: 'HUNDRED' }, 99), true);
  // Admin/disk YAML values read the same.
  const y = yamlSnapshot({ frac: 'numerator: 1\ndenominator: TEN_THOUSAND', pct: '25' });
  assert.equal(y.featureEnabledFractional('frac', dflt, 10_000), true);
  assert.equal(y.featureEnabledFractional('frac', dflt, 10_001), false);
  assert.equal(y.featureEnabledFractional('pct', dflt, 124), true);
  assert.equal(y.featureEnabledFractional('pct', dflt, 125), false);
  // Drawn when no random value is given.
  let on = 0;
  for (let i = 0; i < 20_000; i++) if (s.featureEnabledFractional('missing', { numerator: 2500, denominator: 'TEN_THOUSAND' })) on++;
  assert.ok(Math.abs(on / 20_000 - 0.25) < 0.02, `${on}`);
});

test('loaders: a thread loader swaps whole snapshots; the empty and null ones give defaults', () => {
  const l = new ThreadLoader();
  assert.equal(l.snapshot(), EMPTY_SNAPSHOT);
  assert.equal(l.snapshot().getInteger('k', 3), 3);
  const first = l.snapshot();
  l.update(new Map([['k', createEntry(4)]]));
  assert.equal(l.snapshot().getInteger('k', 3), 4);
  // A snapshot read before keeps its values.
  assert.equal(first.getInteger('k', 3), 3);
  assert.equal(NULL_LOADER.snapshot().getBoolean('k', true), true);
  assert.equal(NULL_LOADER.snapshot().featureEnabledFractional('k', { numerator: 1, denominator: 'HUNDRED' }, 0), true);
});
