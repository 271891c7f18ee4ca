// POST /runtime_modify (runtime_handler.cc handlerRuntimeModify): `?key=value&key2=value2` sets
// those keys in the runtime's admin layer, an empty value removing a key's override; with no
// query parameters, a form body (content-type exactly application/x-www-form-urlencoded) is read
// instead, as Envoy's AdminFilter::queryParams() does. The first value of a repeated key counts.
// 200 "OK\n"; 400 with the usage when there is nothing to set; 503 with the reason when the
// runtime refuses (no admin layer; a value that is not YAML, in which case nothing is changed).
import type { AdminHandler, AdminOptions, AdminRequest, AdminResponse } from './types.ts';

export const FORM_URLENCODED = 'application/x-www-form-urlencoded';

const USAGE = 'usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n'
  + '       or send the parameters as form values\n'
  + 'use an empty value to remove a previously added override';

function params(req: AdminRequest): URLSearchParams {
  if (req.query.size > 0) return req.query;
  if (req.contentType === FORM_URLENCODED && req.body !== undefined && req.body !== '') return new URLSearchParams(req.body);
  return req.query;
}

export const runtimeModifyHandler: AdminHandler = {
  prefix: '/runtime_modify',
  help: 'modify runtime values',
  mutatesState: true,
  handle(req, opts: AdminOptions): AdminResponse {
    const p = params(req);
    if (p.size === 0) return { status: 400, body: USAGE };
    const overrides = new Map<string, string>();
    for (const [k, v] of p) if (!overrides.has(k)) overrides.set(k, v);
    const refused = opts.onRuntimeModify(overrides);
    if (refused !== null) return { status: 503, body: refused };
    return { status: 200, body: 'OK\n' };
  },
};
