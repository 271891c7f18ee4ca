// The data plane's view of its stats block: plain writes into this worker's own
// SharedArrayBuffer (src/stats owns the layout), histogram samples through record().
export interface StatSink {
  /** Counters and gauges by slot: `v[slot] += 1`. */
  readonly v: Float64Array;
  record(slot: number, value: number): void;
}
