-- wrk calls done() once at the end of a run. Printing one JSON line from here is sturdier than parsing
-- wrk's human-readable text (units change between "us", "ms" and "s"; "k" suffixes on counts).
-- Latency values are microseconds.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nLEGATE_BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
