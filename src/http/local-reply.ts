// Local replies as the HTTP connection manager finishes them (Envoy's Utility::sendLocalReply with
// the filter manager's encode functions, source/common/local_reply/local_reply.cc): the route's
// response headers (response_headers_to_add / _to_remove of the route, its virtual host and the
// route configuration), then local_reply_config: the first mapper whose filter matches rewrites the
// status, the body and adds its headers_to_add, then the body is formatted (the mapper's
// body_format_override, else body_format, else the body as it is, text/plain).
//
// compileLocalReply() runs in main (plain data, null when the HCM has no local_reply_config); a
// worker builds LocalReply once. finishLocalReply() is called for every local reply, from the
// filter manager's one local-reply path (FilterManagerCallbacks.onLocalReply), so a reply of any
// filter gets it.
import type { CompileContext, SupportedField } from '../extensions/types.ts';
import { readDataSource } from '../common/data-source.ts';
import {
  JsonFormatter, SubstitutionFormatter, parseFormat, parseJsonFormat, type FormatPiece, type JsonFormatSnap,
} from '../formatter/substitution-formatter.ts';
import {
  HeaderParser, compileHeaderParser, finalizeResponseHeaders, type HeaderParserSnap,
} from '../router/header-parser.ts';
import { ACCESS_LOG_FILTER_FIELDS, accessLogFilter, compileAccessLogFilter, type AccessLogFilterSnap, type FilterInput } from './access-log-filter.ts';
import { monotonicNow } from '../common/clock.ts';
import { startTimeOf, type RequestHeaders, type ResponseHeaders, type StreamInfo } from './types.ts';

type Obj = Record<string, any>;

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.';

export const LOCAL_REPLY_FIELDS: Readonly<Record<string, readonly SupportedField[]>> = {
  [HCM + 'LocalReplyConfig']: ['mappers', 'body_format'],
  [HCM + 'ResponseMapper']: ['filter', 'status_code', 'body', 'body_format_override', 'headers_to_add'],
  'envoy.config.core.v3.SubstitutionFormatString': [
    'text_format', 'text_format_source', 'json_format', 'content_type', 'omit_empty_values',
  ],
  ...ACCESS_LOG_FILTER_FIELDS,
};

interface BodyFormatSnap {
  text: FormatPiece[] | null;
  json: JsonFormatSnap | null;
  contentType: string;
  omitEmpty: boolean;
}
interface MapperSnap {
  filter: AccessLogFilterSnap;
  /** 0: keep the status. */
  status: number;
  body: string | null;
  format: BodyFormatSnap | null;
  headers: HeaderParserSnap | null;
}
export interface LocalReplySnap {
  mappers: MapperSnap[];
  format: BodyFormatSnap | null;
}

function bodyFormat(f: Obj | undefined, path: string, ctx: CompileContext): BodyFormatSnap | null {
  if (f === undefined) return null;
  let text: FormatPiece[] | null = null;
  let json: JsonFormatSnap | null = null;
  if (f.json_format !== undefined) {
    json = parseJsonFormat(f.json_format, `${path}.json_format`, ctx.fail);
  } else if (f.text_format_source !== undefined) {
    const s = readDataSource(f.text_format_source, `${path}.text_format_source`, ctx.fail).toString('utf8');
    text = parseFormat(s, `${path}.text_format_source`, ctx.fail);
  } else {
    text = parseFormat(String(f.text_format ?? ''), `${path}.text_format`, ctx.fail);
  }
  const contentType = typeof f.content_type === 'string' && f.content_type !== '' ? f.content_type
    : json !== null ? 'application/json' : 'text/plain';
  return { text, json, contentType, omitEmpty: f.omit_empty_values === true };
}

/** HttpConnectionManager.local_reply_config; `path` is its field path. */
export function compileLocalReply(c: Obj | undefined, path: string, ctx: CompileContext): LocalReplySnap | null {
  if (c === undefined) return null;
  const mappers = ((c.mappers ?? []) as Obj[]).map((m, i): MapperSnap => {
    const p = `${path}.mappers[${i}]`;
    return {
      filter: compileAccessLogFilter(m.filter ?? {}, `${p}.filter`, ctx),
      status: Number(m.status_code ?? 0),
      body: m.body === undefined ? null : readDataSource(m.body, `${p}.body`, ctx.fail).toString('utf8'),
      format: bodyFormat(m.body_format_override, `${p}.body_format_override`, ctx),
      headers: compileHeaderParser(m.headers_to_add, undefined, `${p}.headers_to_add`, '', ctx),
    };
  });
  return { mappers, format: bodyFormat(c.body_format, `${path}.body_format`, ctx) };
}

class BodyFormatter {
  readonly #f: SubstitutionFormatter | JsonFormatter;
  readonly contentType: string;
  constructor(s: BodyFormatSnap) {
    this.#f = s.json !== null ? new JsonFormatter(s.json, s.omitEmpty) : new SubstitutionFormatter(s.text!, s.omitEmpty);
    this.contentType = s.contentType;
  }
  format(req: RequestHeaders | null, resp: ResponseHeaders, info: StreamInfo, body: string, durationMs: number): string {
    return this.#f.format({ req, resp, info, durationMs, startTime: startTimeOf(info), localReplyBody: body });
  }
}

interface Mapper {
  filter: (i: FilterInput) => boolean;
  status: number;
  body: string | null;
  format: BodyFormatter | null;
  headers: HeaderParser | null;
}

/** A compiled local_reply_config (worker side). */
export class LocalReply {
  readonly #mappers: Mapper[];
  readonly #format: BodyFormatter | null;
  constructor(s: LocalReplySnap) {
    this.#mappers = s.mappers.map((m) => ({
      filter: accessLogFilter(m.filter), status: m.status, body: m.body,
      format: m.format === null ? null : new BodyFormatter(m.format), headers: m.headers === null ? null : new HeaderParser(m.headers),
    }));
    this.#format = s.format === null ? null : new BodyFormatter(s.format);
  }

  /** Envoy's LocalReplyImpl::rewrite: may change `h`'s status; returns the body and its
   *  content-type (null: the body is as it was given, text/plain). */
  rewrite(req: RequestHeaders | null, h: ResponseHeaders, info: StreamInfo, body: string): [string, string | null] {
    // The filters and %RESPONSE_CODE% see the reply's status.
    info.responseCode = h.status;
    const durationMs = monotonicNow() - info.startHr;
    let format = this.#format;
    for (const m of this.#mappers) {
      if (!m.filter({ info, req, durationMs })) continue;
      if (m.body !== null) body = m.body;
      if (m.headers !== null) {
        m.headers.evaluateHeaders(h, m.headers.formats
          ? { req, resp: h, info, durationMs, startTime: startTimeOf(info), localReplyBody: body } : null);
      }
      if (m.status !== 0 && m.status !== h.status) {
        h.status = m.status;
        info.responseCode = m.status;
      }
      if (m.format !== null) format = m.format;
      break;
    }
    if (format === null) return [body, null];
    return [format.format(req, h, info, body, durationMs), format.contentType];
  }
}

/** A local reply's head and body, finished (FilterManagerCallbacks.onLocalReply): the route's
 *  response headers, then local_reply_config. Returns the body to send. Called only when the
 *  stream has either; the head arrives with Legate's content-type (text/plain), content-length
 *  and date. */
export function finishLocalReply(
  h: ResponseHeaders, body: string, req: RequestHeaders | null, info: StreamInfo,
  routeHeaders: readonly HeaderParserSnap[] | null, localReply: LocalReply | null,
): string {
  // Envoy's local reply head has no content-type until the body's is set: a route's own wins.
  h.remove('content-type');
  if (routeHeaders !== null) finalizeResponseHeaders(routeHeaders, h, req, info);
  let out = body;
  let contentType: string | null = null;
  if (localReply !== null) [out, contentType] = localReply.rewrite(req, h, info, body);
  // As Envoy's sendLocalReply: the body's content-type when a route did not set one, or when
  // local_reply_config changed the body.
  if (h.get('content-type') === undefined || (out !== body && out !== '')) h.set('content-type', contentType ?? 'text/plain');
  return out;
}
