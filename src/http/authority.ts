// Validation of a request's authority (the Host header, or the authority of an absolute-form
// request target) before anything routes on it or forwards it.
//
// RFC 9112 3.2: a server MUST answer 400 to a Host header field with an invalid value. The value
// is RFC 3986's `authority` without userinfo (RFC 9110 4.2.4 forbids it in http URIs):
//   host [ ":" port ]     host = IP-literal / IPv4address / reg-name     port = *DIGIT
//   reg-name = *( unreserved / pct-encoded / sub-delims )
//   IP-literal = "[" ( IPv6address / IPvFuture ) "]"
// IPv4address is a reg-name as far as the characters go. The host must not be empty (RFC 9110
// 4.2.1: an http URI with an empty host is invalid). IPv6 literals are checked for their
// characters and shape (hex digits, colons, an embedded IPv4 tail), not for a full parse: what
// matters here is that nothing can be smuggled through the value (spaces, '/', '@', '\', ...).

const REG_NAME = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;=') {
  REG_NAME[c.charCodeAt(0)] = 1;
}
const HEX = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

const COLON = 58;
const PERCENT = 37;
const OPEN = 91; // [
const CLOSE = 93; // ]

/** The last authority found valid on this thread: clients send the same one again and again. */
let lastValid = '';

/** Whether `s` is a valid authority for an HTTP request (see the note above). */
export function isValidAuthority(s: string): boolean {
  if (s === lastValid) return true;
  if (!checkAuthority(s)) return false;
  lastValid = s;
  return true;
}

function checkAuthority(s: string): boolean {
  const n = s.length;
  let i = 0;
  if (n === 0) return false;
  if (s.charCodeAt(0) === OPEN) {
    const close = s.indexOf(']');
    if (close < 0 || !isIpLiteral(s, 1, close)) return false;
    i = close + 1;
  } else {
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === COLON) break;
      if (c === PERCENT) {
        if (i + 2 >= n || HEX[s.charCodeAt(i + 1)] !== 1 || HEX[s.charCodeAt(i + 2)] !== 1) return false;
        i += 3;
        continue;
      }
      if (c >= 128 || REG_NAME[c] !== 1) return false;
      i++;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (s.charCodeAt(i) !== COLON) return false;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** s[from, to) is an IPv6address (characters and shape) or an IPvFuture. */
function isIpLiteral(s: string, from: number, to: number): boolean {
  if (to - from < 2) return false;
  const first = s.charCodeAt(from);
  if (first === 118 || first === 86) {
    // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    let i = from + 1;
    while (i < to && HEX[s.charCodeAt(i)] === 1) i++;
    if (i === from + 1 || i >= to - 1 || s.charCodeAt(i) !== 46) return false;
    for (i++; i < to; i++) {
      const c = s.charCodeAt(i);
      if (c !== COLON && (c >= 128 || REG_NAME[c] !== 1)) return false;
    }
    return true;
  }
  // IPv6address: at most 8 groups of 1-4 hex digits separated by ':', one '::' at most, and an
  // optional IPv4 dotted tail.
  let groups = 0;
  let doubleColon = false;
  let i = from;
  if (s.charCodeAt(i) === COLON) {
    if (s.charCodeAt(i + 1) !== COLON) return false;
    doubleColon = true;
    i += 2;
    if (i === to) return true;
  }
  for (;;) {
    const start = i;
    while (i < to && HEX[s.charCodeAt(i)] === 1) i++;
    const len = i - start;
    if (i < to && s.charCodeAt(i) === 46) {
      // An IPv4 tail takes the place of two groups and ends the address.
      return groups <= (doubleColon ? 5 : 6) && isIpv4(s, start, to);
    }
    if (len === 0 || len > 4) return false;
    groups++;
    if (i === to) break;
    if (s.charCodeAt(i) !== COLON) return false;
    i++;
    if (i < to && s.charCodeAt(i) === COLON) {
      if (doubleColon) return false;
      doubleColon = true;
      i++;
      if (i === to) break;
    } else if (i === to) {
      return false;
    }
  }
  return doubleColon ? groups <= 7 : groups === 8;
}

function isIpv4(s: string, from: number, to: number): boolean {
  let parts = 0;
  let i = from;
  for (;;) {
    const start = i;
    let v = 0;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    if (i === start || i - start > 3 || v > 255) return false;
    parts++;
    if (i === to) break;
    if (s.charCodeAt(i) !== 46 || parts === 4) return false;
    i++;
  }
  return parts === 4;
}
