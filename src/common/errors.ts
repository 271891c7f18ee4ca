// Error classes carry a stable `code`; docs/errors.md lists them.
export class LegateError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Envoy's ENVOY_BUG: "cannot happen". Throws under test (LEGATE_TEST=1), else logs. */
export function bug(message: string): void {
  if (process.env.LEGATE_TEST === '1') throw new LegateError('LEGATE_ERR_BUG', message);
  process.stderr.write(`legate: bug: ${message}\n`);
}
