import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { compileRegex, RegexError } from '../../src/common/regex.ts';
import { LegateError } from '../../src/common/errors.ts';

function rejects(pattern: string, message: string): void {
  assert.throws(() => compileRegex(pattern), (err: unknown) => {
    assert.ok(err instanceof RegexError);
    assert.ok(err instanceof LegateError);
    assert.equal(err.code, 'LEGATE_ERR_REGEX');
    assert.equal(err.pattern, pattern);
    assert.equal(err.message, message);
    return true;
  });
}

test('RE2 syntax found in Envoy configs is accepted with RE2 meaning', () => {
  const cases: [pattern: string, input: string, full: boolean][] = [
    ['(?i)^/static/.*', '/STATIC/app.js', true],
    ['(?i:abc)d', 'ABCd', true],
    ['(?i:abc)d', 'ABCD', false],
    ['\\d+', '2024', true],
    ['[[:alpha:]]+', 'abcXYZ', true],
    ['[[:alpha:]]+', 'abc1', false],
    ['\\pL+', 'héllo', true],
    ['\\p{Greek}+', 'αβγ', true],
    ['(?P<version>v[0-9]+)/x', 'v12/x', true],
    ['(?<version>v[0-9]+)/x', 'v12/x', true],
    ['\\Aabc\\z', 'abc', true],
    ['^/api/v[0-9]+/users/[^/]+$', '/api/v2/users/alice', true],
    ['^/api/v[0-9]+/users/[^/]+$', '/api/v2/users/alice/x', false],
    ['a.*?b', 'axxbyyb', true],
    ['\\Qa.b\\E', 'a.b', true],
    ['\\Qa.b\\E', 'axb', false],
    ['\\x{41}\\x42', 'AB', true],
    ['(?s)a.b', 'a\nb', true],
    ['a.b', 'a\nb', false],
    ['^.$', '😀', true], // one code point, as RE2 on UTF-8
    ['', '', true],
  ];
  for (const [pattern, input, full] of cases) {
    const re = compileRegex(pattern);
    assert.equal(re.source, pattern);
    assert.equal(re.fullMatch(input), full, `${pattern} full-matching ${JSON.stringify(input)}`);
  }
});

test('backreferences, lookaround and other non-RE2 syntax are rejected with LEGATE_ERR_REGEX', () => {
  rejects('(a)\\1', 'invalid regex "(a)\\\\1": backreferences are not supported (RE2 syntax)');
  rejects('(?<n>a)\\k<n>', 'invalid regex "(?<n>a)\\\\k<n>": backreferences are not supported (RE2 syntax)');
  rejects('(?=a)a', 'invalid regex "(?=a)a": lookahead is not supported (RE2 syntax)');
  rejects('x(?!a)', 'invalid regex "x(?!a)": lookahead is not supported (RE2 syntax)');
  rejects('(?<=a)b', 'invalid regex "(?<=a)b": lookbehind is not supported (RE2 syntax)');
  rejects('(?<!a)b', 'invalid regex "(?<!a)b": lookbehind is not supported (RE2 syntax)');
  rejects('(?>a+)b', 'invalid regex "(?>a+)b": atomic groups are not supported (RE2 syntax)');
  rejects('a++', 'invalid regex "a++": invalid nested repetition operator: ++');
  rejects('(', 'invalid regex "(": missing closing ): (');
  rejects('[z-a]', 'invalid regex "[z-a]": invalid character class range: z-a');
  rejects('a{1001}', 'invalid regex "a{1001}": invalid repeat count: {1001}');
  rejects('\\u0041', 'invalid regex "\\\\u0041": invalid escape sequence: \\u'); // ECMAScript-only escape
});

test('test() searches anywhere, fullMatch() must cover the whole input', () => {
  const re = compileRegex('upstream_rq_[0-9]xx');
  assert.equal(re.test('cluster.backend.upstream_rq_2xx'), true);
  assert.equal(re.fullMatch('cluster.backend.upstream_rq_2xx'), false);
  assert.equal(re.fullMatch('upstream_rq_2xx'), true);
  assert.equal(re.test('cluster.backend.upstream_cx_total'), false);

  // Full match is an anchored match, not a search whose leftmost-first result happens to span the input.
  const alt = compileRegex('a|ab');
  assert.equal(alt.fullMatch('ab'), true);
  assert.equal(alt.test('xab'), true);

  // Explicit anchors keep their meaning in a search; `$` is end of text (no trailing-newline exception).
  const anchored = compileRegex('^cluster\\.');
  assert.equal(anchored.test('cluster.a.b'), true);
  assert.equal(anchored.test('http.cluster.a'), false);
  assert.equal(compileRegex('a$').test('a\n'), false);
  assert.equal(compileRegex('(?m)^b$').test('a\nb\nc'), true);

  // A compiled regex is reusable: no state carried from one call to the next (unlike a /g RegExp).
  for (let i = 0; i < 3; i++) assert.equal(re.test('x.upstream_rq_5xx'), true);
});

test('pathological patterns stay linear on a 50,000-char input', () => {
  const budgetMs = 2000; // a guard against exponential behaviour, not a benchmark
  const cases: [pattern: string, input: string][] = [
    ['^([a-z_.]+)+!', 'cluster.upstream_rq_total.'.repeat(2000)],
    ['(a+)+$', `${'a'.repeat(50_000)}b`],
    ['(a|a)*b', 'a'.repeat(50_000)],
    ['(x+x+)+y', 'x'.repeat(50_000)],
  ];
  for (const [pattern, input] of cases) {
    assert.ok(input.length >= 50_000);
    const re = compileRegex(pattern);
    const t0 = performance.now();
    assert.equal(re.test(input), false);
    assert.equal(re.fullMatch(input), false);
    const ms = performance.now() - t0;
    assert.ok(ms < budgetMs, `${pattern} on ${input.length} chars took ${ms.toFixed(0)} ms`);
  }
});

test('compiles and matches inside a worker thread', async () => {
  const url = new URL('../../src/common/regex.ts', import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(({ compileRegex }) => {
      const re = compileRegex('(?i)^/static/.*');
      let code = null;
      try { compileRegex('(a)\\\\1'); } catch (err) { code = err.code; }
      parentPort.postMessage([re.fullMatch('/Static/x.css'), re.fullMatch('/api'), code]);
    });
  `;
  const worker = new Worker(code, { eval: true, workerData: { url } });
  const [msg] = await Promise.all([
    new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); }),
    new Promise((resolve) => worker.once('exit', resolve)),
  ]);
  assert.deepEqual(msg, [true, false, 'LEGATE_ERR_REGEX']);
});
