// GET /stats, as Envoy renders it (source/server/admin/stats_request.cc, stats_render.cc):
// counters and gauges merged and sorted by name, then histograms sorted by name.
//   text:  `name: value`; histograms `name: P0(interval,cumulative) P25(..) ...` or
//          `name: No recorded values`; ?histogram_buckets=cumulative|disjoint prints `B<le>(i,c)`.
//   json:  {"stats":[{"name":..,"value":..},...,{"histograms":{"supported_quantiles":[..],
//          "computed_quantiles":[{"name":..,"values":[{"cumulative":..,"interval":..}]}]}}]}
// Params: filter (RE2, searched in the name), usedonly, format=json|text|prometheus,
// type=All|Counters|Gauges|Histograms|TextReadouts.
import { DEFAULT_BUCKETS, disjoint } from '../stats/histogram.ts';
import { StatKind } from '../stats/layout.ts';
import type { HistogramSummary, StatsSnapshot } from '../stats/store.ts';
import type { CompiledRegex } from '../common/regex.ts';
import { filterParam, flag, fmtDouble, fmtValue, isResponse } from './format.ts';
import { prometheusHandler } from './prometheus.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse,
} from './types.ts';

/** Labels of SUPPORTED_QUANTILES x 100, as Envoy prints them (`P{:g}`; 0.995 * 100 is not 99.5). */
export const QUANTILE_LABELS: readonly string[] = ['0', '25', '50', '75', '90', '95', '99', '99.5', '99.9', '100'];
const SUPPORTED_PERCENTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100];

const TYPES = ['All', 'Counters', 'Gauges', 'Histograms', 'TextReadouts'] as const;
type StatsType = (typeof TYPES)[number];
type BucketsMode = 'none' | 'cumulative' | 'disjoint';

interface Params {
  filter: CompiledRegex | null;
  usedOnly: boolean;
  type: StatsType;
  buckets: BucketsMode;
}

function params(req: AdminRequest): Params | AdminResponse {
  const filter = filterParam(req);
  if (isResponse(filter)) return filter;
  const t = req.query.get('type') ?? 'All';
  if (!(TYPES as readonly string[]).includes(t)) return { status: 400, body: `invalid &type= param: "${t}"\n` };
  const b = req.query.get('histogram_buckets') ?? 'none';
  if (b !== 'none' && b !== 'cumulative' && b !== 'disjoint') {
    return { status: 400, body: `invalid histogram_buckets param: "${b}"\n` };
  }
  return { filter, usedOnly: flag(req, 'usedonly'), type: t as StatsType, buckets: b };
}

function valueLines(snap: StatsSnapshot, p: Params): { name: string; value: number }[] {
  if (p.type === 'Histograms' || p.type === 'TextReadouts') return [];
  const out: { name: string; value: number }[] = [];
  for (const e of snap.entries()) {
    if (p.type === 'Counters' && e.kind !== StatKind.Counter) continue;
    if (p.type === 'Gauges' && e.kind !== StatKind.Gauge) continue;
    if (p.usedOnly && !e.used) continue;
    if (p.filter !== null && !p.filter.test(e.name)) continue;
    out.push({ name: e.name, value: e.value });
  }
  return out;
}

function histograms(snap: StatsSnapshot, p: Params): HistogramSummary[] {
  if (p.type !== 'All' && p.type !== 'Histograms') return [];
  return snap.histograms().filter((h) =>
    (!p.usedOnly || h.used) && (p.filter === null || p.filter.test(h.name)));
}

/** ParentHistogramImpl::quantileSummary(). */
export function quantileSummary(h: HistogramSummary): string {
  const parts: string[] = [];
  for (let i = 0; i < QUANTILE_LABELS.length; i++) {
    parts.push(`P${QUANTILE_LABELS[i]}(${fmtDouble(h.interval.quantiles[i])},${fmtDouble(h.cumulative.quantiles[i])})`);
  }
  return parts.join(' ');
}

function bucketSummary(h: HistogramSummary, mode: 'cumulative' | 'disjoint'): string {
  const iv = mode === 'disjoint' ? disjoint(h.interval.buckets) : h.interval.buckets;
  const cu = mode === 'disjoint' ? disjoint(h.cumulative.buckets) : h.cumulative.buckets;
  return DEFAULT_BUCKETS.map((b, i) => `B${fmtDouble(b)}(${iv[i]},${cu[i]})`).join(' ');
}

export function renderText(snap: StatsSnapshot, p: Params): string {
  let out = '';
  for (const l of valueLines(snap, p)) out += `${l.name}: ${fmtValue(l.value)}\n`;
  for (const h of histograms(snap, p)) {
    if (!h.used) out += `${h.name}: No recorded values\n`;
    else if (p.buckets === 'none') out += `${h.name}: ${quantileSummary(h)}\n`;
    else out += `${h.name}: ${bucketSummary(h, p.buckets)}\n`;
  }
  return out;
}

export function renderJson(snap: StatsSnapshot, p: Params): string {
  const stats: unknown[] = valueLines(snap, p);
  const hs = histograms(snap, p);
  if (hs.length > 0) {
    if (p.buckets === 'none') {
      stats.push({
        histograms: {
          supported_quantiles: SUPPORTED_PERCENTILES,
          computed_quantiles: hs.map((h) => ({
            name: h.name,
            values: h.cumulative.quantiles.map((c, i) => ({ cumulative: c, interval: h.interval.quantiles[i] })),
          })),
        },
      });
    } else {
      const dj = p.buckets === 'disjoint';
      stats.push({
        histograms: hs.map((h) => {
          const iv = dj ? disjoint(h.interval.buckets) : h.interval.buckets;
          const cu = dj ? disjoint(h.cumulative.buckets) : h.cumulative.buckets;
          return {
            name: h.name,
            buckets: DEFAULT_BUCKETS.map((b, i) => ({ upper_bound: b, interval: iv[i], cumulative: cu[i] })),
          };
        }),
      });
    }
  }
  // NaN (no sample in the interval) becomes null, as Envoy's JSON streamer writes it.
  return JSON.stringify({ stats });
}

export const statsHandler: AdminHandler = {
  prefix: '/stats',
  help: 'print server stats',
  mutatesState: false,
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse {
    const format = req.query.get('format') ?? 'text';
    if (format === 'prometheus') return prometheusHandler.handle(req, opts) as AdminResponse;
    const p = params(req);
    if (isResponse(p)) return p;
    const snap = opts.stats.snapshot();
    if (format === 'json') return { status: 200, contentType: CONTENT_JSON, body: renderJson(snap, p) };
    if (format !== 'text' && format !== 'html' && format !== 'active-html') {
      return { status: 400, body: `usage: /stats?format=(html|active-html|json|prometheus|text)\n` };
    }
    return { status: 200, body: renderText(snap, p) };
  },
};
