import type { Scenario } from '../lib/args.ts';
import type { BenchTls } from '../lib/certs.ts';
import type { ManagedProcess } from '../lib/procs.ts';

/** The upstream every target ends at. */
export interface Upstream {
  readonly kind: 'nginx' | 'node';
  readonly port: number;
  readonly proc: ManagedProcess;
}

export interface StartContext {
  /** Private scratch directory for this target's config and logs. */
  readonly dir: string;
  readonly port: number;
  /** The scenario decides what the target is: an HTTP proxy, one terminating TLS, or an L4 proxy. */
  readonly scenario: Scenario;
  /** The certificate, key and ticket key every TLS target uses; null in scenarios without TLS. */
  readonly tls: BenchTls | null;
  readonly upstream: Upstream;
  /** The Node runtime for Node children (Legate, node-http-proxy). */
  readonly nodeBin: string;
  /** Extra flags for Legate's Node (perf/ passes --cpu-prof, --trace-gc). */
  readonly legateNodeFlags: readonly string[];
  /** Extra Legate CLI flags after the standard ones (perf/ shortens --drain-time-s). */
  readonly legateExtraArgs: readonly string[];
}

export interface RunningTarget {
  readonly port: number;
  /** The proxy process whose CPU we sample; null for "direct". */
  readonly proc: ManagedProcess | null;
  /** Version string for the results file, when known. */
  readonly version: string | null;
}

export interface TargetSpec {
  /** Short name for --only and the JSON file. */
  readonly name: string;
  /** The scenarios it takes part in. */
  readonly scenarios: readonly Scenario[];
  /** One line for the table legend. */
  describe(scenario: Scenario): string;
  start(ctx: StartContext): Promise<RunningTarget>;
}

/** Thrown by start() when a peer is not installed: the run goes on without it. */
export class SkipTarget extends Error {
  override readonly name = 'SkipTarget';
}
