// The substitution formatter: Envoy's parse rules (%% escapes, commands with an argument and a
// max length, refusals with the field path), `-` or nothing for unset values, START_TIME's
// strftime with Envoy's %f / %Ns, and typed JSON values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  JsonFormatter, SubstitutionFormatter, parseFormat, parseJsonFormat, type FormatContext,
} from '../../src/formatter/substitution-formatter.ts';
import { compileStrftime } from '../../src/formatter/strftime.ts';
import { RequestHeaders, ResponseHeaders, newStreamInfo } from '../../src/http/types.ts';

const fail = (path: string, message: string): never => {
  throw new Error(`${path}: ${message}`);
};

function ctx(): FormatContext {
  const req = new RequestHeaders('GET', '/a/b?x=1', 'example.test', 'http', 'HTTP/1.1', ['x-in', 'v', 'x-empty', '']);
  const resp = new ResponseHeaders(201, ['x-out', 'o']);
  const info = newStreamInfo(0, '10.0.0.1:5555', '10.0.0.1:5555', null);
  info.responseCode = 201;
  info.upstreamHost = '[::1]:8080';
  return { req, resp, info, durationMs: 12.4, startTime: Date.UTC(2024, 1, 3, 4, 5, 6, 789) + 0.25, localReplyBody: 'lr' };
}

function fmt(format: string, omitEmpty = false): string {
  return new SubstitutionFormatter(parseFormat(format, 'f', fail), omitEmpty).format(ctx());
}

test('operators, alternatives, max lengths and %% escapes', () => {
  assert.equal(fmt('%REQ(X-IN)%|%REQ(x-none?x-in)%|%REQ(:PATH):4%|%REQ_WITHOUT_QUERY(:path)%|100%%'),
    'v|v|/a/b|/a/b|100%');
  assert.equal(fmt('%RESP(x-out)% %RESP(:status)% %RESPONSE_CODE% %DURATION% %LOCAL_REPLY_BODY%'), 'o 201 201 12 lr');
  assert.equal(fmt('%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'), '10.0.0.1 ::1');
  assert.equal(fmt('%ENVIRONMENT(LEGATE_SURELY_UNSET_VAR)%'), '-');
  assert.equal(fmt('%%REQ(x-in)%%'), '%REQ(x-in)%');
});

test('an unset value is `-` in the access log and nothing in a header; an empty header is empty', () => {
  assert.equal(fmt('[%REQ(x-none)%][%RESPONSE_FLAGS%][%REQ(x-empty)%]'), '[-][-][]');
  assert.equal(fmt('[%REQ(x-none)%][%RESPONSE_FLAGS%][%REQ(x-empty)%]', true), '[][][]');
});

test('START_TIME: the default, strftime in UTC, %f, %Nf, %s, %3s', () => {
  assert.equal(fmt('%START_TIME%'), '2024-02-03T04:05:06.789Z');
  assert.equal(fmt('%START_TIME(%Y/%m/%d %H:%M:%S %z)%'), '2024/02/03 04:05:06 +0000');
  const ms = Date.UTC(2024, 1, 3, 4, 5, 6, 789) + 0.25;
  assert.equal(compileStrftime('%s.%3f|%6f|%f|%1f')(ms), '1706933106.789|789250|789250000|7');
  assert.equal(compileStrftime('%3s %E3S %j %a %b')(ms), '1706933106789 06.789 034 Sat Feb');
});

test('parse errors name the field and say what is wrong, as Envoy does', () => {
  const err = (f: string): string => {
    try {
      parseFormat(f, 'route.value', fail);
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  assert.equal(err('%NOT_AN_OPERATOR%').split(' (')[0], 'route.value: Not supported field in StreamInfo: NOT_AN_OPERATOR');
  assert.equal(err('50%'), "route.value: Incorrect configuration: 50%. Couldn't find valid command at position 2");
  assert.equal(err('%REQ%'), 'route.value: REQ requires an argument: %REQ(...)%');
  assert.equal(err('%PROTOCOL(x)%'), 'route.value: PROTOCOL does not take an argument');
  assert.equal(err('%REQ(a?b?c)%'), 'route.value: More than 1 alternative header specified in token: a?b?c');
});

test('JSON formats keep a lone operator typed: numbers, null when unset, literals as written', () => {
  const j = new JsonFormatter(parseJsonFormat({
    code: '%RESPONSE_CODE%', text: 'code %RESPONSE_CODE%', none: '%REQ(x-none)%', n: 3, nested: { p: '%REQ(:PATH)%' },
  }, 'j', fail), false);
  assert.equal(j.format(ctx()), '{"code":201,"text":"code 201","none":null,"n":3,"nested":{"p":"/a/b?x=1"}}\n');
  const omit = new JsonFormatter(parseJsonFormat({ none: '%REQ(x-none)%', a: 'b' }, 'j', fail), true);
  assert.equal(omit.format(ctx()), '{"a":"b"}\n');
});

test('DYNAMIC_METADATA: a path into a namespace; a string as it is, the rest compact JSON; typed in JSON; max length', () => {
  const c = ctx();
  c.info.dynamicMetadata = { 'com.test.f': { test_key: 'foo', n: 1.5, b: false, obj: { inner: 'bar', list: [1, 'x'] } } };
  const f = (format: string, omitEmpty = false) => new SubstitutionFormatter(parseFormat(format, 'f', fail), omitEmpty).format(c);
  assert.equal(f('%DYNAMIC_METADATA(com.test.f:test_key)%'), 'foo');
  assert.equal(f('%DYNAMIC_METADATA(com.test.f:obj:inner)% %DYNAMIC_METADATA(com.test.f:n)% %DYNAMIC_METADATA(com.test.f:b)%'),
    'bar 1.5 false');
  assert.equal(f('%DYNAMIC_METADATA(com.test.f:obj)%'), '{"inner":"bar","list":[1,"x"]}');
  assert.equal(f('%DYNAMIC_METADATA(com.test.f:test_key):2%'), 'fo');
  // Unset: a namespace, a key, a step through a non-object.
  assert.equal(f('%DYNAMIC_METADATA(com.unknown)% %DYNAMIC_METADATA(com.test.f:nope)% %DYNAMIC_METADATA(com.test.f:test_key:x)%'),
    '- - -');
  assert.equal(f('[%DYNAMIC_METADATA(com.unknown)%]', true), '[]');
  const j = new JsonFormatter(parseJsonFormat({
    all: '%DYNAMIC_METADATA(com.test.f:obj)%', s: '%DYNAMIC_METADATA(com.test.f:test_key):1%',
    none: '%DYNAMIC_METADATA(x)%', text: 'k=%DYNAMIC_METADATA(com.test.f:n)%',
  }, 'j', fail), false);
  assert.equal(j.format(c), '{"all":{"inner":"bar","list":[1,"x"]},"s":"f","none":null,"text":"k=1.5"}\n');
  assert.throws(() => parseFormat('%DYNAMIC_METADATA%', 'f', fail), /f: DYNAMIC_METADATA requires an argument/);
});
