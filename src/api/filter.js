// legate/filter at run time: the status values a filter written for legate.filters.http.script
// returns (the types are in filter.d.ts; docs/filters.md is the guide). Plain JavaScript with no
// imports, so it loads wherever the package is installed. The values are those of
// src/http/filter.ts (a test keeps them equal).

/** What decodeHeaders / encodeHeaders may return (nothing: Continue). */
export const FilterHeadersStatus = Object.freeze({
  Continue: 0,
  StopIteration: 1,
  StopAllIterationAndBuffer: 2,
  StopAllIterationAndWatermark: 3,
});

/** What decodeData / encodeData may return (nothing: Continue). */
export const FilterDataStatus = Object.freeze({
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationNoBuffer: 2,
  StopIterationAndWatermark: 3,
});

/** What decodeTrailers / encodeTrailers may return (nothing: Continue). */
export const FilterTrailersStatus = Object.freeze({
  Continue: 0,
  StopIteration: 1,
});
