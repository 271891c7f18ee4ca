// GET /explain (Legate's own; Envoy has none): where a request would go on the running config,
// without sending it, the answer `legate explain` gives for a config file (main/explain.ts).
// Query: url (required, absolute), method (GET), header=name:value (repeatable), remote_address,
// listener, random (the stream's random value), format=json (else text).
import { ExplainError, formatExplanation, parseHeaderFlags } from '../main/explain.ts';
import { CONTENT_JSON, CONTENT_TEXT, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse } from './types.ts';

export const explainHandler: AdminHandler = {
  prefix: '/explain',
  help: 'explain where a request would go: ?url=http://host/path&method=GET&header=name:value&format=json',
  mutatesState: false,
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse {
    const q = req.query;
    const url = q.get('url');
    if (url === null) return { status: 400, body: 'explain: the url parameter is required (an absolute http:// or https:// URL)\n' };
    try {
      const e = opts.explain({
        method: (q.get('method') ?? 'GET').toUpperCase(),
        url,
        headers: parseHeaderFlags(q.getAll('header')),
        remoteAddress: q.get('remote_address') ?? undefined,
        listener: q.get('listener') ?? undefined,
        random: q.get('random') === null ? undefined : Number(q.get('random')),
      });
      return q.get('format') === 'json'
        ? { status: 200, contentType: CONTENT_JSON, body: `${JSON.stringify(e, null, 2)}\n` }
        : { status: 200, contentType: CONTENT_TEXT, body: formatExplanation(e) };
    } catch (err) {
      if (err instanceof ExplainError) return { status: 400, body: `${err.message}\n` };
      throw err;
    }
  },
};
