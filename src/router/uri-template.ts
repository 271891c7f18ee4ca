// The path template of envoy.path.match.uri_template.uri_template_matcher (`/{lang}/*/v{n=*}/**.m3u8`),
// parsed with Envoy's rules (source/extensions/path/uri_template_lib/uri_template_internal.cc) and
// translated to the RE2 pattern Envoy builds from it; the route matches when that pattern matches the
// whole path without query and fragment. Runs in main at config time: a template Envoy refuses is a
// config error here, with Envoy's reason.
//
// The grammar: '/' then segments separated by '/', each a literal (pchar without '*' and '='), `*`
// (one segment), `**` (any text, '/' included: nothing that globs may follow it), or a variable
// `{name}` / `{name=segments}`; the last segment may carry a literal suffix (`*.m3u8`), and the
// template may end with '/'. At most 5 variables, names of 1 to 16 characters, each used once.

/** RFC 3986 pchar less `*` and `=` (Envoy's kLiteral). */
const LITERAL = "a-zA-Z0-9-._~%!$&'()+,;:@";
const LITERAL_RE = /^[a-zA-Z0-9\-._~%!$&'()+,;:@]+$/;
const PATH_GLOB = `[${LITERAL}]+`;
const TEXT_GLOB = `[${LITERAL}/]*`;
const MAX_VARIABLES = 5;
const MAX_NAME = 16;

type Op = '*' | '**';
type Segment = { op: Op } | { literal: string } | { variable: string; match: (Op | string)[] };

/** The RE2 pattern of a template, or throws an Error whose message is Envoy's reason. */
export function uriTemplateRegex(template: string): string {
  if (!/^\/[\x21-\x7e]*$/.test(template)) throw new Error('Invalid pattern');
  let rest = template.slice(1);
  const segments: Segment[] = [];
  let suffix = '';
  while (rest !== '') {
    if (rest[0] === '*') {
      const op: Op = rest.startsWith('**') ? '**' : '*';
      segments.push({ op });
      rest = rest.slice(op.length);
    } else if (rest[0] === '{') {
      const close = rest.indexOf('}');
      if (close === -1) throw new Error('Unmatched variable bracket');
      segments.push(variable(rest.slice(1, close)));
      rest = rest.slice(close + 1);
    } else {
      const lit = literal(rest);
      segments.push({ literal: lit });
      rest = rest.slice(lit.length);
    }
    if (rest === '') break;
    if (rest === '/') {
      segments.push({ literal: '' });
      break;
    }
    if (rest[0] === '/') {
      rest = rest.slice(1);
      continue;
    }
    suffix = literal(rest);
    if (suffix.length !== rest.length) throw new Error('Prefix match not supported.');
    break;
  }
  const names = new Set<string>();
  for (const s of segments) {
    if (!('variable' in s)) continue;
    if (names.size >= MAX_VARIABLES) throw new Error('Exceeded variable count limit');
    if (s.variable.length > MAX_NAME) throw new Error('Invalid variable length');
    if (names.has(s.variable)) throw new Error('Repeated variable name');
    names.add(s.variable);
  }
  let textGlob = false;
  for (const s of segments) {
    const ops = 'op' in s ? [s.op] : 'variable' in s ? (s.match.length === 0 ? ['*' as Op] : s.match.filter(isOp)) : [];
    for (const op of ops) {
      if (textGlob) {
        throw new Error('variable' in s && s.match.length === 0
          ? 'Implicit variable path glob after text glob.' : 'Glob after text glob.');
      }
      textGlob = op === '**';
    }
  }
  return '/' + segments.map(segmentRegex).join('/') + escapeLiteral(suffix);
}

function isOp(x: Op | string): x is Op {
  return x === '*' || x === '**';
}

/** The literal up to the next '/' (Envoy's consumeLiteral). */
function literal(s: string): string {
  const slash = s.indexOf('/');
  const lit = slash === -1 ? s : s.slice(0, slash);
  if (!LITERAL_RE.test(lit)) throw new Error('Invalid literal');
  return lit;
}

function variable(body: string): Segment {
  const eq = body.indexOf('=');
  const name = eq === -1 ? body : body.slice(0, eq);
  if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(name)) throw new Error('Invalid variable name');
  const match: (Op | string)[] = [];
  if (eq === -1) return { variable: name, match };
  let p = body.slice(eq + 1);
  if (p === '') throw new Error('Empty variable match');
  while (p !== '') {
    if (p[0] === '*') {
      const op: Op = p.startsWith('**') ? '**' : '*';
      match.push(op);
      p = p.slice(op.length);
    } else {
      const lit = literal(p);
      match.push(lit);
      p = p.slice(lit.length);
    }
    if (p !== '') {
      if (p[0] !== '/' || p.length === 1) throw new Error('Invalid variable match');
      p = p.slice(1);
    }
  }
  return { variable: name, match };
}

function opRegex(op: Op): string {
  return op === '*' ? PATH_GLOB : TEXT_GLOB;
}

/** Envoy escapes only these in literals: the other pchars are not RE2 metacharacters. */
function escapeLiteral(s: string): string {
  return s.replace(/[$()+.]/g, '\\$&');
}

function segmentRegex(s: Segment): string {
  if ('op' in s) return opRegex(s.op);
  if ('literal' in s) return escapeLiteral(s.literal);
  const inner = s.match.length === 0 ? PATH_GLOB
    : s.match.map((m) => (isOp(m) ? opRegex(m) : escapeLiteral(m))).join('/');
  return `(?P<${s.variable}>${inner})`;
}
