// envoy.filters.http.local_ratelimit, per stream (Envoy's LocalRateLimitFilter::Filter): takes a
// token from the route's descriptor buckets (strictest first) and the filter's bucket, answers
// `status` (429) with `local_rate_limited` when none is left and the filter enforces, and puts the
// x-ratelimit-* headers on the response.
import { monotonicNow } from '../../../../common/clock.ts';
import { FilterHeadersStatus, type StreamDecoderFilterCallbacks, type StreamFilter } from '../../../../http/filter.ts';
import type { RequestHeaders, ResponseHeaders } from '../../../../http/types.ts';
import type { WorkerContext } from '../../../types.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import { HeaderParser } from '../../../../router/header-parser.ts';
import {
  addressWithoutPort, populateDescriptors, type Descriptor, type VhRateLimits,
} from '../../../../router/rate-limits.ts';
import {
  LocalTokenBucket, SharedTokenBucket, sharedNs, sharedWords, type BucketState, type TokenBucket, type TokenBucketSnap,
} from './token-bucket.ts';
import type { FractionSnap, LocalRateLimitSnap } from './index.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

export interface LocalRateLimitStats {
  enabled: number;
  enforced: number;
  rate_limited: number;
  ok: number;
}

/** The buckets of one config: the filter's and its descriptors' (shared, or a connection's). */
class Buckets {
  readonly main: TokenBucket | null;
  readonly byDescriptor: Map<string, TokenBucket> | null;
  constructor(snap: LocalRateLimitSnap, make: (b: TokenBucketSnap) => TokenBucket) {
    this.main = snap.bucket === null ? null : make(snap.bucket);
    this.byDescriptor = snap.descriptors.length === 0 ? null
      : new Map(snap.descriptors.map((d) => [d.key, make(d.bucket)]));
  }
}

/** One LocalRateLimit (the filter's, or a route's) as a worker uses it. */
export class LocalRateLimitConfig {
  readonly snap: LocalRateLimitSnap;
  readonly stats: StatSink;
  readonly ctx: WorkerContext;
  readonly responseHeaders: HeaderParser | null;
  readonly requestHeaders: HeaderParser | null;
  /** Process-wide buckets (null with local_rate_limit_per_downstream_connection). */
  readonly buckets: Buckets | null;
  /** Per downstream connection (local_rate_limit_per_downstream_connection). */
  readonly #perConnection: WeakMap<object, Buckets> | null;

  constructor(snap: LocalRateLimitSnap, ctx: WorkerContext) {
    this.snap = snap;
    this.ctx = ctx;
    this.stats = ctx.stats;
    this.responseHeaders = snap.responseHeaders === null ? null : new HeaderParser(snap.responseHeaders);
    this.requestHeaders = snap.requestHeadersWhenNotEnforced === null ? null
      : new HeaderParser(snap.requestHeadersWhenNotEnforced);
    const words = sharedWords(ctx.sharedMemory);
    this.buckets = snap.perConnection ? null : new Buckets(snap, (b) => (words !== null && b.offset >= 0
      ? new SharedTokenBucket(b, words, b.offset) : new LocalTokenBucket(b)));
    this.#perConnection = snap.perConnection ? new WeakMap() : null;
  }

  bucketsFor(cb: StreamDecoderFilterCallbacks): Buckets | null {
    if (this.buckets !== null) return this.buckets;
    const conn = cb.connection();
    if (conn === null) return null;
    let b = this.#perConnection!.get(conn);
    if (b === undefined) this.#perConnection!.set(conn, b = new Buckets(this.snap, (s) => new LocalTokenBucket(s)));
    return b;
  }

  on(f: FractionSnap | null): boolean {
    if (f === null) return false;
    return f.always || this.ctx.runtime.snapshot().featureEnabledFractional(f.runtimeKey, f.defaultValue);
  }
}

/** Per-route configs by their compiled snapshot (a worker builds each once). */
const perRouteConfigs = new WeakMap<object, LocalRateLimitConfig>();

export class LocalRateLimitFilter extends PassThroughFilter implements StreamFilter {
  readonly #config: LocalRateLimitConfig;
  #cb: StreamDecoderFilterCallbacks | null;
  /** The config used for this stream (the route's, else the filter's). */
  #used: LocalRateLimitConfig;
  #limited: boolean;
  /** What the x-ratelimit-* headers show (limit -1: none). */
  #limit: number;
  #remaining: number;
  #reset: number;

  constructor(config: LocalRateLimitConfig) {
    super();
    this.#config = config;
    this.#cb = null;
    this.#used = config;
    this.#limited = false;
    this.#limit = -1;
    this.#remaining = 0;
    this.#reset = 0;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const cb = this.#cb!;
    const base = this.#config;
    const perRoute = cb.perFilterConfig(base.snap.name) as LocalRateLimitSnap | null;
    let c = base;
    if (perRoute !== null) {
      let pc = perRouteConfigs.get(perRoute);
      if (pc === undefined) perRouteConfigs.set(perRoute, pc = new LocalRateLimitConfig(perRoute, base.ctx));
      c = pc;
    }
    this.#used = c;
    const snap = c.snap;
    if (!c.on(snap.enabled)) return FilterHeadersStatus.Continue;
    c.stats.v[snap.stats.enabled]++;
    const buckets = c.bucketsFor(cb);
    if (buckets === null) return FilterHeadersStatus.Continue;
    const now = sharedNs(monotonicNow());
    let allowed = true;
    let matched = false;
    let shown: TokenBucket | null = null;
    // Descriptor buckets, strictest (lowest fill rate) first: a request a descriptor limits takes
    // no token from the others (Envoy's LocalRateLimiterImpl::requestAllowed).
    const byDescriptor = buckets.byDescriptor;
    const policies = cb.route?.snap.rateLimits;
    if (byDescriptor !== null && policies !== null && policies !== undefined) {
      const ds: Descriptor[] = [];
      const action = cb.route!.snap.action;
      populateDescriptors(policies, snap.stage, snap.vhRateLimits as VhRateLimits, headers, {
        cluster: action.kind === 'cluster' ? action.cluster : '',
        remoteAddress: remoteAddress(cb),
      }, ds);
      let hits: TokenBucket[] | null = null;
      for (let i = 0; i < ds.length; i++) {
        const b = byDescriptor.get(ds[i].join('\0'));
        if (b !== undefined) (hits ??= []).push(b);
      }
      if (hits !== null) {
        matched = true;
        if (hits.length > 1) hits.sort((x, y) => x.fillRate - y.fillRate);
        shown = hits[0];
        for (let i = 0; i < hits.length; i++) {
          if (!hits[i].consume(now)) {
            allowed = false;
            shown = hits[i];
            break;
          }
        }
      }
    }
    if (allowed && (!matched || snap.alwaysConsumeDefault) && buckets.main !== null) {
      if (!buckets.main.consume(now)) {
        allowed = false;
        shown = buckets.main;
      } else if (shown === null) {
        shown = buckets.main;
      }
    }
    if (shown !== null && snap.xRateLimitHeaders) {
      // (Read now, right after the take: another worker's takes do not show in this response.)
      shown.state(now, STATE);
      this.#limit = STATE.maxTokens;
      this.#remaining = STATE.remaining;
      this.#reset = STATE.resetSeconds;
    }
    if (allowed) {
      c.stats.v[snap.stats.ok]++;
      return FilterHeadersStatus.Continue;
    }
    c.stats.v[snap.stats.rate_limited]++;
    if (!c.on(snap.enforced)) {
      c.requestHeaders?.evaluateHeaders(headers, null);
      return FilterHeadersStatus.Continue;
    }
    c.stats.v[snap.stats.enforced]++;
    this.#limited = true;
    cb.sendLocalReply(snap.status, 'local_rate_limited', 'RL', 'local_rate_limited');
    return FilterHeadersStatus.StopIteration;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const c = this.#used;
    if (this.#limited && c.responseHeaders !== null) c.responseHeaders.evaluateHeaders(headers, null);
    if (this.#limit >= 0) {
      headers.add('x-ratelimit-limit', String(this.#limit));
      headers.add('x-ratelimit-remaining', String(this.#remaining));
      headers.add('x-ratelimit-reset', String(this.#reset));
    }
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    this.#cb = null;
  }
}

/** Scratch for a bucket's state (one thread, used synchronously). */
const STATE: BucketState = { maxTokens: 0, remaining: 0, resetSeconds: 0 };

/** The client's address without port: the connection manager's trusted one when it computed it,
 *  else the connection's peer. */
export function remoteAddress(cb: StreamDecoderFilterCallbacks): string {
  const a = cb.streamInfo.downstreamRemoteAddress;
  if (a !== '') return addressWithoutPort(a);
  return cb.connection()?.remoteIp ?? '';
}
