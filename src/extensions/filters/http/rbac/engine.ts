// Envoy's RBAC policy language (envoy.config.rbac.v3; source/extensions/filters/common/rbac):
// compiled in main to plain data (the *Snap types, built by index.ts), turned into a matcher tree
// once per worker (buildEngine), evaluated per request against its headers and connection.
//
// As Envoy's RoleBasedAccessControlEngineImpl: policies are tried in the order of their names (a
// std::map), the first whose permissions and principals both match decides; ALLOW allows what
// matched, DENY what did not, LOG allows everything (the match is only a log hint). A policy's
// permissions and principals are each an OR list. Addresses (Envoy's matchers.cc IPMatcher):
// `source_ip` is the connection's peer (a PROXY protocol header's source), `direct_remote_ip` the
// socket's peer, `remote_ip` the stream's client as x-forwarded-for gave it (use_remote_address,
// xff_num_trusted_hops), `destination_ip` / `destination_port` the connection's local end.
import { cidrRange, ipBytes, prefixMatches, type CidrRange } from '../../../../common/cidr.ts';
import { ipOf } from '../../../../http/hash-policy.ts';
import type { RequestHeaders } from '../../../../http/types.ts';
import type { StreamDecoderFilterCallbacks } from '../../../../http/filter.ts';
import { HeaderMatcher, StringMatcher, pathOnly } from '../../../../router/matchers.ts';
import type { HeaderMatchSnap, StringMatchSnap } from '../../../../router/config.ts';

/** A CidrRange as checked at config time ("address/len" re-parsed per worker). */
export interface CidrSnap { cidr: string }

/** A Permission or a Principal (one oneof case each; `and`/`or` carry their list in `of`). */
export type RuleSnap =
  | { k: 'any' }
  | { k: 'and' | 'or'; of: RuleSnap[] }
  | { k: 'not'; of: RuleSnap }
  | { k: 'header'; header: HeaderMatchSnap }
  | { k: 'url_path'; match: StringMatchSnap }
  | { k: 'requested_server_name'; match: StringMatchSnap }
  | { k: 'destination_ip' | 'source_ip' | 'direct_remote_ip' | 'remote_ip'; range: CidrSnap }
  | { k: 'destination_port'; port: number }
  | { k: 'destination_port_range'; start: number; end: number }
  /** Principal.authenticated; `match` null: any peer with a TLS connection. */
  | { k: 'authenticated'; match: StringMatchSnap | null };

export interface PolicySnap {
  name: string;
  permissions: RuleSnap[];
  principals: RuleSnap[];
}

export const RbacAction = { Allow: 0, Deny: 1, Log: 2 } as const;
export type RbacAction = (typeof RbacAction)[keyof typeof RbacAction];

/** An RBAC message: its action and its policies sorted by name. */
export interface EngineSnap {
  action: RbacAction;
  policies: PolicySnap[];
}

// ---- worker side ---------------------------------------------------------------------------------

/** What the matchers read of one request; addresses are parsed at most once each, when a matcher
 *  first asks. One per filter instance (so per stream), reset by evaluate(). */
export class RbacInput {
  headers: RequestHeaders;
  cb: StreamDecoderFilterCallbacks;
  #path: string | null;
  #local: string | null;
  // The addresses' bytes by Addr (undefined: not parsed yet; null: not an IP).
  #ip0: Uint8Array | null | undefined;
  #ip1: Uint8Array | null | undefined;
  #ip2: Uint8Array | null | undefined;
  #ip3: Uint8Array | null | undefined;

  constructor(headers: RequestHeaders, cb: StreamDecoderFilterCallbacks) {
    this.headers = headers;
    this.cb = cb;
    this.#path = null;
    this.#local = null;
    this.#ip0 = undefined;
    this.#ip1 = undefined;
    this.#ip2 = undefined;
    this.#ip3 = undefined;
  }

  /** :path without query and fragment (Envoy's PathMatcher matches that). */
  get path(): string {
    return this.#path ??= pathOnly(this.headers.path);
  }

  /** The connection's local end "ip:port" ('' when unknown). */
  get local(): string {
    if (this.#local === null) {
      this.#local = this.cb.connection()?.localAddress ?? this.cb.streamInfo.downstreamConnection?.localAddress ?? '';
    }
    return this.#local;
  }

  /** The bytes of one of the addresses (Addr.*), null when it is not an IP. */
  ip(which: number): Uint8Array | null {
    const b = which === Addr.Local ? this.#ip0 : which === Addr.Source ? this.#ip1 : which === Addr.DirectRemote ? this.#ip2 : this.#ip3;
    if (b !== undefined) return b;
    const info = this.cb.streamInfo;
    const a = which === Addr.Local ? this.local
      : which === Addr.Source ? this.cb.connection()?.remoteAddress ?? info.downstreamDirectRemoteAddress
        : which === Addr.DirectRemote ? info.downstreamDirectRemoteAddress : info.downstreamRemoteAddress;
    const parsed = ipBytes(ipOf(a));
    if (which === Addr.Local) this.#ip0 = parsed;
    else if (which === Addr.Source) this.#ip1 = parsed;
    else if (which === Addr.DirectRemote) this.#ip2 = parsed;
    else this.#ip3 = parsed;
    return parsed;
  }

  get localPort(): number {
    const a = this.local;
    const c = a.lastIndexOf(':');
    return c < 0 ? -1 : Number(a.slice(c + 1));
  }

  get requestedServerName(): string {
    const info = this.cb.streamInfo;
    return info.requestedServerName !== '' ? info.requestedServerName : info.downstreamSsl?.requestedServerName() ?? '';
  }
}

const Addr = { Local: 0, Source: 1, DirectRemote: 2, Remote: 3 } as const;

interface Matcher {
  matches(i: RbacInput): boolean;
}

class Any implements Matcher {
  matches(): boolean { return true; }
}
class And implements Matcher {
  readonly of: Matcher[];
  constructor(of: Matcher[]) {
    this.of = of;
  }
  matches(i: RbacInput): boolean {
    for (const m of this.of) if (!m.matches(i)) return false;
    return true;
  }
}
class Or implements Matcher {
  readonly of: Matcher[];
  constructor(of: Matcher[]) {
    this.of = of;
  }
  matches(i: RbacInput): boolean {
    for (const m of this.of) if (m.matches(i)) return true;
    return false;
  }
}
class Not implements Matcher {
  readonly of: Matcher;
  constructor(of: Matcher) {
    this.of = of;
  }
  matches(i: RbacInput): boolean { return !this.of.matches(i); }
}
class Header implements Matcher {
  readonly h: HeaderMatcher;
  constructor(h: HeaderMatcher) {
    this.h = h;
  }
  matches(i: RbacInput): boolean { return this.h.match(i.headers); }
}
class UrlPath implements Matcher {
  readonly s: StringMatcher;
  constructor(s: StringMatcher) {
    this.s = s;
  }
  matches(i: RbacInput): boolean { return this.s.match(i.path); }
}
class ServerName implements Matcher {
  readonly s: StringMatcher;
  constructor(s: StringMatcher) {
    this.s = s;
  }
  matches(i: RbacInput): boolean { return this.s.match(i.requestedServerName); }
}
class Ip implements Matcher {
  readonly which: number;
  readonly range: CidrRange;
  constructor(which: number, range: CidrRange) {
    this.which = which;
    this.range = range;
  }
  matches(i: RbacInput): boolean {
    const b = i.ip(this.which);
    return b !== null && b.length === this.range.bytes.length && prefixMatches(b, this.range.bytes, this.range.len);
  }
}
class Port implements Matcher {
  readonly start: number;
  readonly end: number;
  constructor(start: number, end: number) {
    this.start = start;
    this.end = end;
  }
  matches(i: RbacInput): boolean {
    const p = i.localPort;
    return p >= this.start && p < this.end;
  }
}
/** Envoy's AuthenticatedMatcher: a TLS connection; with a matcher, any URI SAN, then any DNS SAN,
 *  then the subject (RFC 2253) must match. */
class Authenticated implements Matcher {
  readonly s: StringMatcher | null;
  constructor(s: StringMatcher | null) {
    this.s = s;
  }
  matches(i: RbacInput): boolean {
    const ssl = i.cb.connection()?.ssl() ?? i.cb.streamInfo.downstreamSsl;
    if (ssl == null) return false;
    const s = this.s;
    if (s === null) return true;
    for (const u of ssl.uriSanPeerCertificate()) if (s.match(u)) return true;
    for (const d of ssl.dnsSansPeerCertificate()) if (s.match(d)) return true;
    return s.match(ssl.subjectPeerCertificate());
  }
}

function build(r: RuleSnap): Matcher {
  switch (r.k) {
    case 'any': return new Any();
    case 'and': return new And(r.of.map(build));
    case 'or': return new Or(r.of.map(build));
    case 'not': return new Not(build(r.of));
    case 'header': return new Header(new HeaderMatcher(r.header));
    case 'url_path': return new UrlPath(new StringMatcher(r.match));
    case 'requested_server_name': return new ServerName(new StringMatcher(r.match));
    case 'destination_ip': return new Ip(Addr.Local, cidrRange(r.range.cidr));
    case 'source_ip': return new Ip(Addr.Source, cidrRange(r.range.cidr));
    case 'direct_remote_ip': return new Ip(Addr.DirectRemote, cidrRange(r.range.cidr));
    case 'remote_ip': return new Ip(Addr.Remote, cidrRange(r.range.cidr));
    case 'destination_port': return new Port(r.port, r.port + 1);
    case 'destination_port_range': return new Port(r.start, r.end);
    case 'authenticated': return new Authenticated(r.match === null ? null : new StringMatcher(r.match));
  }
}

interface Policy {
  name: string;
  permissions: Matcher;
  principals: Matcher;
}

/** One RBAC message, built for a worker (Envoy's RoleBasedAccessControlEngineImpl). */
export class Engine {
  readonly action: RbacAction;
  readonly policies: readonly Policy[];

  constructor(s: EngineSnap) {
    this.action = s.action;
    this.policies = s.policies.map((p) => ({
      name: p.name, permissions: new Or(p.permissions.map(build)), principals: new Or(p.principals.map(build)),
    }));
  }

  /** The first policy (by name) that matches, or null. */
  matchedPolicy(i: RbacInput): string | null {
    for (const p of this.policies) {
      if (p.permissions.matches(i) && p.principals.matches(i)) return p.name;
    }
    return null;
  }

  /** Envoy's handleAction: whether the request is allowed; `policy` is what matched (null: none). */
  allowed(policy: string | null): boolean {
    return this.action === RbacAction.Allow ? policy !== null : this.action === RbacAction.Deny ? policy === null : true;
  }
}
