// GET /stats/prometheus, as Envoy renders it (source/server/admin/prometheus_stats.cc):
// names go through the default tag extraction (stats/tags.ts), get the `envoy_` prefix and
// [^a-zA-Z0-9_] -> '_'; stats with the same extracted name form one group under one `# TYPE` line.
// Counters first, then gauges, then histograms; groups sorted by extracted name, lines in a group
// by full stat name. Histograms: `_bucket{...,le="..."}` over Envoy's default bounds, `+Inf`,
// `_sum` (%.32g) and `_count`. Params: usedonly, filter (on the full name).
import { DEFAULT_BUCKETS } from '../stats/histogram.ts';
import { StatKind } from '../stats/layout.ts';
import type { StatsSnapshot } from '../stats/store.ts';
import { TagProducer, type Tag } from '../stats/tags.ts';
import type { CompiledRegex } from '../common/regex.ts';
import { filterParam, flag, fmtG32, fmtValue, isResponse } from './format.ts';
import type { AdminHandler, AdminOptions, AdminRequest, AdminResponse } from './types.ts';

const tagProducer = new TagProducer();

function sanitizeName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

// prometheus/common's text escaping, as Envoy's sanitizeValue().
function sanitizeValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function formattedTags(tags: readonly Tag[]): string {
  return tags.map((t) => `${sanitizeName(t.name)}="${sanitizeValue(t.value)}"`).join(',');
}

export function metricName(extracted: string): string {
  return `envoy_${sanitizeName(extracted)}`;
}

// Envoy sorts StatNames symbol by symbol: compare dot-separated tokens, then token count.
function compareStatNames(a: string, b: string): number {
  const ta = a.split('.');
  const tb = b.split('.');
  const n = Math.min(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    if (ta[i] !== tb[i]) return ta[i] < tb[i] ? -1 : 1;
  }
  return ta.length - tb.length;
}

interface Member {
  readonly name: string;
  readonly tags: readonly Tag[];
  readonly render: (metric: string, tags: string) => string;
}

function groupAndRender(members: Member[], type: string): string {
  const groups = new Map<string, Member[]>();
  for (const m of members) {
    const extracted = tagProducer.produceTags(m.name).name;
    let g = groups.get(extracted);
    if (g === undefined) groups.set(extracted, (g = []));
    g.push(m);
  }
  let out = '';
  for (const extracted of [...groups.keys()].sort(compareStatNames)) {
    const metric = metricName(extracted);
    out += `# TYPE ${metric} ${type}\n`;
    const g = groups.get(extracted)!;
    g.sort((a, b) => compareStatNames(a.name, b.name));
    for (const m of g) out += m.render(metric, formattedTags(m.tags));
  }
  return out;
}

export function renderPrometheus(snap: StatsSnapshot, usedOnly: boolean, filter: CompiledRegex | null): string {
  const counters: Member[] = [];
  const gauges: Member[] = [];
  for (const e of snap.entries()) {
    if (usedOnly && !e.used) continue;
    if (filter !== null && !filter.test(e.name)) continue;
    const value = fmtValue(e.value);
    const m: Member = {
      name: e.name,
      tags: tagProducer.produceTags(e.name).tags,
      render: (metric, tags) => `${metric}{${tags}} ${value}\n`,
    };
    (e.kind === StatKind.Counter ? counters : gauges).push(m);
  }
  const histograms: Member[] = [];
  for (const h of snap.histograms()) {
    if (usedOnly && !h.used) continue;
    if (filter !== null && !filter.test(h.name)) continue;
    const stats = h.cumulative;
    histograms.push({
      name: h.name,
      tags: tagProducer.produceTags(h.name).tags,
      render: (metric, tags) => {
        const bucketTags = tags === '' ? '' : `${tags},`;
        let s = '';
        for (let i = 0; i < DEFAULT_BUCKETS.length; i++) {
          s += `${metric}_bucket{${bucketTags}le="${fmtG32(DEFAULT_BUCKETS[i])}"} ${stats.buckets[i]}\n`;
        }
        s += `${metric}_bucket{${bucketTags}le="+Inf"} ${stats.sampleCount}\n`;
        s += `${metric}_sum{${tags}} ${fmtG32(stats.sampleSum)}\n`;
        s += `${metric}_count{${tags}} ${stats.sampleCount}\n`;
        return s;
      },
    });
  }
  return groupAndRender(counters, 'counter') + groupAndRender(gauges, 'gauge') + groupAndRender(histograms, 'histogram');
}

export const prometheusHandler: AdminHandler = {
  prefix: '/stats/prometheus',
  help: 'print server stats in prometheus format',
  mutatesState: false,
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse {
    const filter = filterParam(req);
    if (isResponse(filter)) return filter;
    return { status: 200, body: renderPrometheus(opts.stats.snapshot(), flag(req, 'usedonly'), filter) };
  },
};
