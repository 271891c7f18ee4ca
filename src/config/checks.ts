// Cross-field checks Envoy makes when it builds the config (beyond what the protos and PGV say),
// run on the normalized bootstrap. Messages quote Envoy's where Envoy has one, so a config rejected
// by Legate reads the same as when Envoy rejects it.
import net from 'node:net';
import { CHAIN_NAMES, ExtensionCategory, extensionByName, extensionByType, type ExtensionInfo } from './extensions.ts';
import { ChainMatchConflict, FilterChainMatcher, chainMatchOf, cidrError } from '../listener/filter-chain-match.ts';

type Obj = Record<string, any>;

const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

/** The extension a filter-like entry (name + typed_config) resolves to, as Envoy resolves it. */
function extensionOf(entry: Obj): ExtensionInfo | undefined {
  const type = entry.typed_config?.['@type'];
  if (typeof type === 'string') return extensionByType(type);
  return typeof entry.name === 'string' ? extensionByName(entry.name) : undefined;
}

/** Envoy's Config::Utility::validateTerminalFilters over one chain. */
function terminalFilters(chain: Obj[], category: ExtensionCategory, path: string, c: CheckCtx): void {
  // A filter whose config failed to convert cannot be resolved reliably; its error is out already.
  if (chain.some((f) => c.broken.has(f))) return;
  const errors = c.errors;
  const chainName = CHAIN_NAMES[category];
  for (let i = 0; i < chain.length; i++) {
    const ext = extensionOf(chain[i]!);
    if (ext === undefined || ext.category !== category) continue; // reported during conversion
    const last = i === chain.length - 1;
    const name = chain[i]!.name ?? '';
    if (ext.terminal && !last) {
      errors.push(`${path}[${i}]: Error: terminal filter named ${name} of type ${ext.name} `
        + `must be the last filter in a ${chainName} filter chain.`);
    } else if (!ext.terminal && last) {
      errors.push(`${path}[${i}]: Error: non-terminal filter named ${name} of type ${ext.name} `
        + `is the last filter in a ${chainName} filter chain.`);
    }
  }
}

/** Envoy's Address::asString(): `1.2.3.4:80`, `[::1]:80`. */
function addressString(sa: Obj): string {
  const host = String(sa.address ?? '');
  return `${net.isIPv6(host) ? `[${host}]` : host}:${sa.port_value ?? 0}`;
}

/** Listeners and STATIC cluster endpoints need IP addresses. */
function checkIp(addr: Obj | undefined, path: string, errors: string[]): void {
  const sa = addr?.socket_address;
  if (sa === undefined || typeof sa.address !== 'string' || sa.address === '' || sa.resolver_name !== undefined) return;
  if (net.isIP(sa.address) === 0) {
    errors.push(`${path}.socket_address.address: malformed IP address: ${sa.address}. Consider setting resolver_name or `
      + "setting cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'");
  }
}

function checkRouteConfig(rc: Obj, path: string, clusters: Set<string>, errors: string[]): void {
  const routeName = rc.name ?? '';
  const domains = new Set<string>();
  let wildcard = false;
  list(rc.virtual_hosts).forEach((vh, v) => {
    const vpath = `${path}.virtual_hosts[${v}]`;
    (Array.isArray(vh.domains) ? (vh.domains as string[]) : []).forEach((d, i) => {
      const domain = d.toLowerCase();
      if (domain === '*') {
        if (wildcard) {
          errors.push(`${vpath}.domains[${i}]: Only a single wildcard domain is permitted in route ${routeName}`);
        }
        wildcard = true;
      } else if (domains.has(domain)) {
        errors.push(`${vpath}.domains[${i}]: Only unique values for domains are permitted. `
          + `Duplicate entry of domain ${domain} in route ${routeName}`);
      }
      domains.add(domain);
    });
    list(vh.routes).forEach((r, i) => {
      const cluster = r.route?.cluster;
      if (typeof cluster === 'string' && cluster !== '' && !clusters.has(cluster)) {
        errors.push(`${vpath}.routes[${i}].route.cluster: route: unknown cluster '${cluster}'`);
      }
    });
  });
}

function checkHcm(hcm: Obj, path: string, clusters: Set<string>, c: CheckCtx): void {
  const filters = list(hcm.http_filters);
  if (filters.length === 0) {
    if (!c.broken.has(hcm)) {
      c.errors.push(`${path}.http_filters: no HTTP filters; `
        + 'envoy.filters.http.router must be the last filter in a http filter chain');
    }
  } else {
    terminalFilters(filters, ExtensionCategory.HttpFilter, `${path}.http_filters`, c);
  }
  if (hcm.route_config !== undefined) checkRouteConfig(hcm.route_config, `${path}.route_config`, clusters, c.errors);
}

/** A filter_chain_match's own checks (Envoy's setupFilterChainMatcher): CIDR ranges, and
 *  server_names wildcards only as a leading `*.`. False when it has an error. */
function checkChainMatch(m: Obj | undefined, path: string, listener: string, errors: string[]): boolean {
  if (m === undefined) return true;
  let ok = true;
  for (const field of ['prefix_ranges', 'source_prefix_ranges']) {
    list(m[field]).forEach((r, k) => {
      const e = cidrError(`${String(r.address_prefix ?? '')}/${r.prefix_len ?? 0}`);
      if (e !== null) {
        errors.push(`${path}.${field}[${k}]: ${e}`);
        ok = false;
      }
    });
  }
  (Array.isArray(m.server_names) ? (m.server_names as string[]) : []).forEach((sn, k) => {
    if (sn.includes('*') && !sn.startsWith('*.')) {
      errors.push(`${path}.server_names[${k}]: error adding listener '${listener}': partial wildcards are not supported in "server_names"`);
      ok = false;
    }
  });
  return ok;
}

interface CheckCtx {
  errors: string[];
  broken: WeakSet<object>;
}

/** Envoy's cross-field checks; `broken` (from proto-json.ts) marks objects that lost a field to an error. */
export function crossCheck(bootstrap: Obj, errors: string[], broken: WeakSet<object> = new WeakSet()): void {
  const c: CheckCtx = { errors, broken };
  const sr = bootstrap.static_resources ?? {};

  const clusters = new Set<string>();
  list(sr.clusters).forEach((cluster, i) => {
    const path = `static_resources.clusters[${i}]`;
    if (typeof cluster.name === 'string') {
      if (clusters.has(cluster.name)) errors.push(`${path}.name: cluster manager: duplicate cluster '${cluster.name}'`);
      clusters.add(cluster.name);
    }
    // Envoy requires IPs only of STATIC clusters; other types are reported as unsupported already.
    const isStatic = (cluster.type === undefined || cluster.type === 'STATIC') && cluster.cluster_type === undefined;
    if (isStatic) {
      list(cluster.load_assignment?.endpoints).forEach((le, j) => {
        list(le.lb_endpoints).forEach((lb, k) => {
          const epath = `${path}.load_assignment.endpoints[${j}].lb_endpoints[${k}].endpoint.address`;
          checkIp(lb.endpoint?.address, epath, errors);
        });
      });
    }
  });

  if (bootstrap.admin?.address !== undefined) checkIp(bootstrap.admin.address, 'admin.address', errors);

  const names = new Map<string, number>();
  const addresses = new Map<string, string>();
  list(sr.listeners).forEach((l, i) => {
    const path = `static_resources.listeners[${i}]`;
    const name: string = typeof l.name === 'string' ? l.name : '';
    if (name !== '') {
      const first = names.get(name);
      if (first !== undefined) {
        errors.push(`${path}.name: duplicate listener name '${name}' (also static_resources.listeners[${first}])`);
      } else {
        names.set(name, i);
      }
    }
    if (l.address === undefined) {
      errors.push(`${path}.address: value is required`);
    } else {
      checkIp(l.address, `${path}.address`, errors);
      const sa = l.address.socket_address;
      // Port 0 asks the kernel for a fresh port each time: never a clash.
      if (sa !== undefined && typeof sa.port_value === 'number' && sa.port_value !== 0) {
        const key = addressString(sa);
        if (addresses.has(key)) {
          errors.push(`${path}.address: error adding listener: '${name}' has duplicate address '${key}' as existing listener`);
        } else {
          addresses.set(key, name);
        }
      }
    }
    const chains = list(l.filter_chains);
    if (chains.length === 0) {
      errors.push(`${path}.filter_chains: error adding listener '${name}': no filter chains specified`);
    }
    const checkChain = (fc: Obj, cpath: string): void => {
      const filters = list(fc.filters);
      terminalFilters(filters, ExtensionCategory.NetworkFilter, `${cpath}.filters`, c);
      filters.forEach((f, k) => {
        const tc = f.typed_config;
        if (tc !== undefined && typeof tc['@type'] === 'string' && tc['@type'].endsWith('/' + HCM_TYPE)) {
          checkHcm(tc, `${cpath}.filters[${k}].typed_config`, clusters, c);
        }
      });
    };
    let matchesOk = true;
    chains.forEach((fc, j) => {
      const cpath = `${path}.filter_chains[${j}]`;
      if (!checkChainMatch(fc.filter_chain_match, `${cpath}.filter_chain_match`, name, errors)) matchesOk = false;
      checkChain(fc, cpath);
    });
    if (l.default_filter_chain !== undefined) checkChain(l.default_filter_chain, `${path}.default_filter_chain`);
    if (matchesOk && chains.length > 1) {
      // Envoy's FilterChainManagerImpl: the index is built here as the worker builds it, and a
      // chain whose rules repeat or overlap an earlier one's is refused.
      try {
        new FilterChainMatcher(chains.map((fc) => chainMatchOf(fc.filter_chain_match)), chains);
      } catch (err) {
        if (!(err instanceof ChainMatchConflict)) throw err;
        errors.push(`${path}.filter_chains[${err.index}]: error adding listener '${name}': ${err.message}`
          + ` (as static_resources.listeners[${i}].filter_chains[${err.other}])`);
      }
    }
  });
}
