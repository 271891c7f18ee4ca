// The HTTP `date` header value, recomputed at most once a second (a coarse, unref'd timer would
// keep a worker awake for nothing; computing on demand with a cached second is cheaper).
let cachedSecond = -1;
let cached = '';

export function httpDate(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== cachedSecond) {
    cachedSecond = sec;
    cached = new Date(now).toUTCString();
  }
  return cached;
}
