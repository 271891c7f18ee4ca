// The response every upstream serves: 100 bytes at one path, the same whichever upstream runs.
export const PAYLOAD_PATH = '/100b.txt';
export const PAYLOAD = 'x'.repeat(99) + '\n';

// The tcp-stream scenario's one long download: 1 GiB at its own path (a sparse file, so it costs no disk).
export const STREAM_PATH = '/1g.bin';
export const STREAM_BYTES = 1024 ** 3;

// The gzip scenario's document: exactly 100 KiB of application/json at its own path, served by both
// upstreams. It is an API-style array of records (ids, uuids, names, e-mails, cities, numbers, dates,
// tags) drawn from a seeded generator, so it is the same on every run and compresses like real JSON
// (the uuids and numbers resist it), not like one repeated byte.
export const JSON_PATH = '/100k.json';
export const JSON_BYTES = 100 * 1024;

/**
 * How the gzip scenario's proxies compress: nginx's defaults, which Legate's compressor is set to.
 * nginx's `gzip_comp_level` defaults to 1 (Envoy's BEST_SPEED), its window to 32 KiB (window_bits 15,
 * the undocumented `gzip_window`) and its hash to memory level 8 (`gzip_hash`); nginx shrinks both only
 * for responses shorter than its window, not for 100 KiB. Envoy's own defaults differ (level 6, window
 * bits 12, memory level 5), so Legate's config sets all three.
 */
export const GZIP = { level: 1, windowBits: 15, memLevel: 8 } as const;

/** mulberry32: a small seeded PRNG, enough for varied but reproducible field values. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Alan', 'Grace', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Radia', 'Edsger',
  'Frances', 'Donald', 'Sophie', 'Tim', 'Katherine', 'Vint', 'Hedy', 'John', 'Shafi', 'Leslie'];
const LAST = ['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Hamilton', 'Ritchie', 'Liskov', 'Thompson',
  'Perlman', 'Dijkstra', 'Allen', 'Knuth', 'Wilson', 'Berners-Lee', 'Johnson', 'Cerf', 'Lamarr', 'McCarthy',
  'Goldwasser', 'Lamport'];
const CITIES = ['Amsterdam', 'Berlin', 'Bogota', 'Cairo', 'Dublin', 'Helsinki', 'Lagos', 'Lima', 'Lisbon',
  'Montreal', 'Mumbai', 'Nairobi', 'Osaka', 'Oslo', 'Santiago', 'Seoul', 'Sydney', 'Tallinn', 'Warsaw', 'Zurich'];
const TAGS = ['admin', 'beta', 'billing', 'early-adopter', 'enterprise', 'free-tier', 'mobile', 'newsletter',
  'partner', 'support', 'trial', 'verified'];
const PLANS = ['free', 'starter', 'pro', 'enterprise'];

function jsonDocument(bytes: number): string {
  const rand = prng(12);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const hex = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
    return s;
  };
  const records: string[] = [];
  let length = 2; // the brackets
  for (let id = 10_001; ; id++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const created = new Date(Date.UTC(2019, 0, 1) + Math.floor(rand() * 6 * 365 * 86_400) * 1000);
    const tags = TAGS.filter(() => rand() < 0.2);
    const record = JSON.stringify({
      id,
      uuid: `${hex(8)}-${hex(4)}-4${hex(3)}-${hex(4)}-${hex(12)}`,
      name: `${first} ${last}`,
      email: `${first.toLowerCase()}.${last.toLowerCase()}${Math.floor(rand() * 100)}@example.com`,
      city: pick(CITIES),
      plan: pick(PLANS),
      active: rand() < 0.8,
      logins: Math.floor(rand() * 5000),
      balance: Math.round(rand() * 1_000_000) / 100,
      score: Math.round(rand() * 1000) / 1000,
      created: created.toISOString(),
      tags,
    });
    const sep = records.length === 0 ? 0 : 1;
    // The last record carries a note sized so the document is exactly `bytes` long.
    const closing = `{"id":${id},"note":""}`;
    if (length + sep + record.length + 1 + closing.length > bytes) {
      const fill = bytes - length - sep - closing.length;
      const words = 'the quick brown fox jumps over the lazy dog while the proxy compresses the response ';
      records.push(`{"id":${id},"note":"${words.repeat(Math.ceil(fill / words.length)).slice(0, fill)}"}`);
      break;
    }
    records.push(record);
    length += sep + record.length;
  }
  return `[${records.join(',')}]`;
}

export const JSON_DOC = jsonDocument(JSON_BYTES);
