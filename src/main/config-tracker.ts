// What /config_dump shows of the running config, as the entries Envoy's ConfigTracker holds: the
// bootstrap (envoy.admin.v3.BootstrapConfigDump) and the clusters (ClustersConfigDump; every
// cluster is a static one, there is no CDS). Each is printed from the normalized config as Envoy
// prints the proto (config/proto-json-print.ts, with sensitive fields redacted), with the time it
// last changed: a reload that changes a cluster, or the bootstrap, moves its last_updated; one that
// leaves it as it was keeps it.
import { printMessage, timestampJson } from '../config/proto-json-print.ts';
import { TYPE_URL_PREFIX } from '../config/extensions.ts';
import type { ConfigDumpEntry } from '../admin/types.ts';

type Obj = Record<string, any>;

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';

interface Tracked {
  config: Obj;
  /** JSON of `config`, to tell a change. */
  json: string;
  /** When it last changed (ms since the epoch). */
  at: number;
}

export class ConfigTracker {
  #bootstrap: Tracked | null = null;
  /** By name, in config order. */
  #clusters = new Map<string, Tracked>();

  /** The config now running (at startup and after each reload). */
  update(bootstrap: Obj, now = Date.now()): void {
    this.#bootstrap = track(bootstrap, this.#bootstrap, now);
    const next = new Map<string, Tracked>();
    for (const c of (bootstrap.static_resources?.clusters ?? []) as Obj[]) {
      next.set(String(c.name), track(c, this.#clusters.get(String(c.name)) ?? null, now));
    }
    this.#clusters = next;
  }

  /** The entries, with the clusters whose name `nameMatch` accepts. */
  entries(nameMatch: (name: string) => boolean): ConfigDumpEntry[] {
    const b = this.#bootstrap;
    const bootstrap: ConfigDumpEntry['message'] = { '@type': `${TYPE_URL_PREFIX}envoy.admin.v3.BootstrapConfigDump` };
    if (b !== null) {
      bootstrap.bootstrap = printMessage(BOOTSTRAP, b.config);
      bootstrap.last_updated = timestampJson(b.at);
    }
    const clusters: ConfigDumpEntry['message'] = { '@type': `${TYPE_URL_PREFIX}envoy.admin.v3.ClustersConfigDump` };
    const statics: Obj[] = [];
    for (const [name, c] of this.#clusters) {
      if (!nameMatch(name)) continue;
      statics.push({
        cluster: { '@type': TYPE_URL_PREFIX + CLUSTER, ...printMessage(CLUSTER, c.config) },
        last_updated: timestampJson(c.at),
      });
    }
    if (statics.length > 0) clusters.static_clusters = statics;
    return [{ key: 'bootstrap', message: bootstrap }, { key: 'clusters', message: clusters }];
  }
}

function track(config: Obj, was: Tracked | null, now: number): Tracked {
  const json = JSON.stringify(config);
  return { config, json, at: was !== null && was.json === json ? was.at : now };
}
