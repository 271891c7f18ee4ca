// %START_TIME(format)%: strftime in UTC, as Envoy's DateFormatter (source/common/common/utility.cc)
// runs absl::FormatTime on the stream's start, with Envoy's own specifiers on top:
//   %s           seconds since the epoch; %3s, %6s, %9s: milli-, micro-, nanoseconds since it
//   %f, %1f..%9f the fraction of the second, 9 digits by default
//   %E3S, %E*S   seconds with that many decimals (absl); %Ez: +00:00
// The format is split once into literal text and field functions; a time is then one join.
// Legate's clock has sub-millisecond precision at best: digits past it come from the fraction of
// the millisecond it has (performance.now()), not from a nanosecond clock.

type Field = string | ((d: Date, ms: number) => string);

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** The fraction of the second `ms` falls in, as `digits` digits. */
function fraction(ms: number, digits: number): string {
  const ns = Math.floor((((ms % 1000) + 1000) % 1000) * 1e6);
  return pad(ns, 9).slice(0, digits);
}

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

/** One specifier (without its `%`) as a field, or null when strftime has no such one (it is then
 *  kept as written). */
function specifier(s: string): Field | null {
  switch (s) {
    case 'Y': return (d) => String(d.getUTCFullYear());
    case 'y': return (d) => pad(d.getUTCFullYear() % 100, 2);
    case 'C': return (d) => pad(Math.floor(d.getUTCFullYear() / 100), 2);
    case 'm': return (d) => pad(d.getUTCMonth() + 1, 2);
    case 'd': return (d) => pad(d.getUTCDate(), 2);
    case 'e': return (d) => String(d.getUTCDate()).padStart(2, ' ');
    case 'H': return (d) => pad(d.getUTCHours(), 2);
    case 'I': return (d) => pad(d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12, 2);
    case 'p': return (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM');
    case 'M': return (d) => pad(d.getUTCMinutes(), 2);
    case 'S': return (d) => pad(d.getUTCSeconds(), 2);
    case 'j': return (d) => pad(dayOfYear(d), 3);
    case 'a': return (d) => DAYS[d.getUTCDay()].slice(0, 3);
    case 'A': return (d) => DAYS[d.getUTCDay()];
    case 'b': case 'h': return (d) => MONTHS[d.getUTCMonth()].slice(0, 3);
    case 'B': return (d) => MONTHS[d.getUTCMonth()];
    case 'u': return (d) => String(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
    case 'w': return (d) => String(d.getUTCDay());
    case 'z': return () => '+0000';
    case 'Ez': return () => '+00:00';
    case 'Z': return () => 'UTC';
    case 'n': return () => '\n';
    case 't': return () => '\t';
    case '%': return () => '%';
    case 'T': return (d) => `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
    case 'R': return (d) => `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}`;
    case 'D': return (d) => `${pad(d.getUTCMonth() + 1, 2)}/${pad(d.getUTCDate(), 2)}/${pad(d.getUTCFullYear() % 100, 2)}`;
    case 'F': return (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
    case 'c': return (d) => `${DAYS[d.getUTCDay()].slice(0, 3)} ${MONTHS[d.getUTCMonth()].slice(0, 3)} `
      + `${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()}`;
    case 's': return (_d, ms) => String(Math.floor(ms / 1000));
    case '3s': return (_d, ms) => String(Math.floor(ms));
    case '6s': return (_d, ms) => String(Math.floor(ms * 1000));
    case '9s': return (_d, ms) => String(BigInt(Math.floor(ms * 1000)) * 1000n);
    case 'f': return (_d, ms) => fraction(ms, 9);
    case 'E*S': return (d, ms) => {
      const f = fraction(ms, 9).replace(/0+$/, '');
      return f === '' ? pad(d.getUTCSeconds(), 2) : `${pad(d.getUTCSeconds(), 2)}.${f}`;
    };
  }
  let m = /^([1-9])f$/.exec(s);
  if (m !== null) {
    const n = Number(m[1]);
    return (_d, ms) => fraction(ms, n);
  }
  m = /^E([0-9])S$/.exec(s);
  if (m !== null) {
    const n = Number(m[1]);
    return n === 0 ? (d) => pad(d.getUTCSeconds(), 2) : (d, ms) => `${pad(d.getUTCSeconds(), 2)}.${fraction(ms, n)}`;
  }
  return null;
}

// A specifier: an optional E, a digit or `*` (Envoy's and absl's widths), then a letter, or %%.
const SPEC = /%(E[0-9*]?[A-Za-z]|[1-9][fs]|[A-Za-z%])/g;

/** A compiled START_TIME format: the time (wall-clock ms, fraction allowed) as text. */
export function compileStrftime(format: string): (ms: number) => string {
  const fields: Field[] = [];
  let last = 0;
  for (let m = SPEC.exec(format); m !== null; m = SPEC.exec(format)) {
    const f = specifier(m[1]);
    if (f === null) continue;
    if (m.index > last) fields.push(format.slice(last, m.index));
    fields.push(f);
    last = m.index + m[0].length;
  }
  if (last < format.length) fields.push(format.slice(last));
  if (fields.length === 1 && typeof fields[0] === 'string') {
    const text = fields[0];
    return () => text;
  }
  return (ms) => {
    const d = new Date(Math.floor(ms));
    let s = '';
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      s += typeof f === 'string' ? f : f(d, ms);
    }
    return s;
  };
}
