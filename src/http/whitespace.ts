// Whitespace in HTTP field values (RFC 9110 5.6.3: OWS is SP / HTAB), for every codec and the
// connection manager.

/** `s` without leading and trailing OWS (SP and HTAB only, RFC 9110 5.6.3). String.prototype.trim
 *  also strips other whitespace, NBSP (0xA0) among it, which llhttp treats as part of a value:
 *  trimming it would make a value mean one thing here and another to the parser. */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
