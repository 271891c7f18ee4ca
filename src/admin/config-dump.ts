// GET /config_dump, as Envoy's ConfigDumpHandler answers it: an envoy.admin.v3.ConfigDump whose
// `configs` are the control plane's entries (configDump(): the bootstrap, the clusters) in key
// order, plus with ?include_eds the clusters' current endpoints (endpoints-dump.ts). Query:
//  - name_regex: only the resources whose name the RE2 pattern fully matches (clusters, endpoint
//    assignments); a pattern RE2 refuses is 400;
//  - resource=<field>: instead of whole entries, the elements of the first entry's repeated field
//    of that name (each with its own @type, e.g. ClustersConfigDump.StaticCluster); 404 when no
//    entry has the field, 400 when it is not a repeated one;
//  - mask=<paths>: a FieldMask (field-mask.ts) applied to each entry, which is left out when a
//    path is not one of its fields (400 when that leaves none); with resource=, applied to each
//    element and reaching into its Any (400 when a path is not valid).
// An empty resource, mask or name_regex is no parameter (as when Envoy's admin form sends them
// blank); include_eds is on when present, whatever its value, as in Envoy.
import { compileRegex } from '../common/regex.ts';
import { fullNameOf, findMessageType, isType, type PbType } from '../config/protos.ts';
import { TYPE_URL_PREFIX, typeNameOfUrl } from '../config/extensions.ts';
import { endpointsConfigDump } from './endpoints-dump.ts';
import { fieldMaskDebugString, fieldOf, parseFieldMask, trimMessage, trimResource } from './field-mask.ts';
import { prettyJson } from './format.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse, type ConfigDumpEntry,
} from './types.ts';

type Obj = Record<string, unknown>;

function param(req: AdminRequest, name: string): string | null {
  const v = req.query.get(name);
  return v === null || v === '' ? null : v;
}

function typeOf(message: Obj): PbType | null {
  const url = message['@type'];
  return typeof url === 'string' ? findMessageType(typeNameOfUrl(url)) : null;
}

function dump(configs: Obj[]): AdminResponse {
  // (proto3 JSON leaves an empty list out.)
  return { status: 200, contentType: CONTENT_JSON, body: prettyJson(configs.length === 0 ? {} : { configs }) };
}

/** ?resource=: the elements of the first entry that has the field. */
function resourceDump(entries: readonly ConfigDumpEntry[], resource: string, paths: string[] | null): AdminResponse {
  for (const e of entries) {
    const t = typeOf(e.message);
    const f = t === null ? undefined : fieldOf(t, resource);
    if (f === undefined) continue;
    if (!f.repeated) {
      return { status: 400, body: `${f.name} is not a repeated field. Use ?mask=${f.name} to get only this field` };
    }
    const et = f.resolvedType;
    if (!isType(et)) continue;
    const configs: Obj[] = [];
    for (const item of (e.message[resource] ?? []) as Obj[]) {
      const el = structuredClone(item);
      if (paths !== null && !trimResource(et, el, paths)) {
        return { status: 400, body: `FieldMask ${fieldMaskDebugString(paths)} could not be successfully used.` };
      }
      configs.push({ '@type': TYPE_URL_PREFIX + fullNameOf(et), ...el });
    }
    return dump(configs);
  }
  return { status: 404, body: `${resource} not found in config dump` };
}

export const configDumpHandler: AdminHandler = {
  prefix: '/config_dump',
  help: 'dump current Envoy configs (experimental)',
  mutatesState: false,
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse {
    const resource = param(req, 'resource');
    const mask = param(req, 'mask');
    const nameRegex = param(req, 'name_regex');
    let nameMatch = (_name: string): boolean => true;
    if (nameRegex !== null) {
      try {
        const re = compileRegex(nameRegex);
        nameMatch = (name) => re.fullMatch(name);
      } catch (err) {
        return {
          status: 400,
          body: `INVALID_ARGUMENT: Error while parsing name_regex from ${nameRegex}: ${(err as Error).message}`,
        };
      }
    }
    const entries = [...opts.configDump(nameMatch)];
    if (req.query.has('include_eds')) {
      const clusters = opts.clusters();
      if (clusters.length > 0) entries.push(endpointsConfigDump(clusters, nameMatch));
    }
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const paths = mask === null ? null : parseFieldMask(mask);
    if (resource !== null) return resourceDump(entries, resource, paths);
    const configs: Obj[] = [];
    for (const e of entries) {
      if (paths === null) {
        configs.push(e.message);
        continue;
      }
      // A mask that does not fit an entry leaves the entry out (they are of different types).
      const t = typeOf(e.message);
      const m = structuredClone(e.message);
      if (t !== null && trimMessage(t, m, paths)) configs.push(m);
    }
    if (configs.length === 0 && mask !== null) {
      return { status: 400, body: `FieldMask ${mask} could not be successfully applied to any configs.` };
    }
    return dump(configs);
  },
};
