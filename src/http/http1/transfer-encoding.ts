// A request's Transfer-Encoding, as the HTTP/1 server codec judges it (RFC 9112 6.1).
import { trimOws } from './header-names.ts';

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** transfer-coding = token *( OWS ";" OWS token "=" ( token / quoted-string ) ) (RFC 9110 10.1.4). */
const CODING = new RegExp(`^${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"[^"]*"))*$`);

/**
 * What a request's Transfer-Encoding list (all its field lines, comma-joined) means for an
 * HTTP/1.1 request (RFC 9112 6.1):
 *    0  exactly `chunked`: the body is chunked;
 *   -1  the final coding is not chunked: the length cannot be determined (400, then close).
 *       llhttp refuses these itself, after on_headers_complete, and the codec leaves the answer
 *       to it (so a head refused there is never routed: the smuggling test shows it); what
 *       llhttp lets through (an empty value) acceptHead refuses;
 *  400  chunked applied more than once, or a malformed coding;
 *  501  other codings before chunked: well framed, but Legate does not decode them (RFC 9112
 *       6.1: a coding the server does not understand; Envoy answers 501 for any coding but
 *       chunked).
 */
export function transferEncodingStatus(te: string): number {
  if (te.length === 7 && te.toLowerCase() === 'chunked') return 0;
  const codings = te.split(',');
  const last = codings.length - 1;
  if (trimOws(codings[last]).toLowerCase() !== 'chunked') return -1;
  let others = 0;
  for (let i = 0; i < last; i++) {
    // A coding is a token with optional parameters; chunked may appear only once.
    const c = trimOws(codings[i]);
    if (!CODING.test(c) || c.toLowerCase() === 'chunked') return 400;
    others++;
  }
  return others === 0 ? 0 : 501;
}
