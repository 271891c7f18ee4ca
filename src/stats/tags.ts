// Envoy's default tag extraction (source/common/config/well_known_names.cc and
// source/common/stats/tag_producer_impl.cc): turns `cluster.x.upstream_rq_200` into the name
// `cluster.upstream_rq` with tags envoy.response_code="200", envoy.cluster_name="x", which is what
// /stats/prometheus prints. Same descriptors, same order, same matching rules:
//  - regex extractors: capture group 1 is removed from the name, group 2 (or group 1) is the value;
//  - token extractors: `$` is the value token, `*` one token, `**` any (at least one) tokens;
//  - extractors whose pattern starts with a literal first token only run on names starting with it,
//    after all the extractors without such a prefix; a tag name is extracted at most once;
//  - every extractor looks at the full original name; removed ranges are cut at the end.
// RE2 and ECMAScript agree on these patterns (leftmost-first, lazy quantifiers).

export interface Tag {
  readonly name: string;
  readonly value: string;
}
export interface TaggedName {
  /** The name with the tag values cut out (Envoy's tagExtractedName). */
  readonly name: string;
  readonly tags: readonly Tag[];
}

/** Envoy's Config::TagNames. */
export const TagNames = {
  CLUSTER_NAME: 'envoy.cluster_name',
  LISTENER_ADDRESS: 'envoy.listener_address',
  HTTP_CONN_MANAGER_PREFIX: 'envoy.http_conn_manager_prefix',
  HTTP_USER_AGENT: 'envoy.http_user_agent',
  SSL_CIPHER: 'envoy.ssl_cipher',
  SSL_CURVE: 'envoy.ssl_curve',
  SSL_SIGALG: 'envoy.ssl_sigalg',
  SSL_VERSION: 'envoy.ssl_version',
  SSL_CIPHER_SUITE: 'cipher_suite',
  CLIENTSSL_PREFIX: 'envoy.clientssl_prefix',
  MONGO_PREFIX: 'envoy.mongo_prefix',
  MONGO_CMD: 'envoy.mongo_cmd',
  MONGO_COLLECTION: 'envoy.mongo_collection',
  MONGO_CALLSITE: 'envoy.mongo_callsite',
  RATELIMIT_PREFIX: 'envoy.ratelimit_prefix',
  LOCAL_HTTP_RATELIMIT_PREFIX: 'envoy.local_http_ratelimit_prefix',
  LOCAL_NETWORK_RATELIMIT_PREFIX: 'envoy.local_network_ratelimit_prefix',
  LOCAL_LISTENER_RATELIMIT_PREFIX: 'envoy.local_listener_ratelimit_prefix',
  DNS_FILTER_PREFIX: 'envoy.dns_filter_prefix',
  TCP_PREFIX: 'envoy.tcp_prefix',
  UDP_PREFIX: 'envoy.udp_prefix',
  FAULT_DOWNSTREAM_CLUSTER: 'envoy.fault_downstream_cluster',
  DYNAMO_OPERATION: 'envoy.dynamo_operation',
  DYNAMO_TABLE: 'envoy.dynamo_table',
  DYNAMO_PARTITION_ID: 'envoy.dynamo_partition_id',
  GRPC_BRIDGE_SERVICE: 'envoy.grpc_bridge_service',
  GRPC_BRIDGE_METHOD: 'envoy.grpc_bridge_method',
  VIRTUAL_HOST: 'envoy.virtual_host',
  VIRTUAL_CLUSTER: 'envoy.virtual_cluster',
  RESPONSE_CODE: 'envoy.response_code',
  RESPONSE_CODE_CLASS: 'envoy.response_code_class',
  RDS_ROUTE_CONFIG: 'envoy.rds_route_config',
  ROUTE: 'envoy.route',
  EXT_AUTHZ_PREFIX: 'envoy.ext_authz_prefix',
  WORKER_ID: 'envoy.worker_id',
  THRIFT_PREFIX: 'envoy.thrift_prefix',
  REDIS_PREFIX: 'envoy.redis_prefix',
} as const;

// well_known_names.cc's expandRegex() placeholders.
const EXPANSIONS: readonly [string, string][] = [
  ['<ADDRESS>', String.raw`(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)`],
  ['<CIPHER>', String.raw`[\w-]+`],
  ['<TLS_VERSION>', String.raw`TLSv\d\.\d`],
  ['<TAG_VALUE>', String.raw`[^\.]+`],
  ['<ROUTE_CONFIG_NAME>', String.raw`[\w\-.]+`],
  ['<LISTENER_OR_CLUSTER_WITH_NAME>', String.raw`(?:listener|cluster)\..*?`],
];

function expand(re: string): string {
  for (const [k, v] of EXPANSIONS) re = re.split(k).join(v);
  return re;
}

type RegexDesc = readonly [name: string, regex: string, substr?: string, negativeMatch?: string];
type TokenDesc = readonly [name: string, tokens: string];

const T = TagNames;
// TagNameValues::TagNameValues(), addRe2() calls in order.
const REGEX_DESCRIPTORS: readonly RegexDesc[] = [
  [T.RESPONSE_CODE, String.raw`_rq(_(\d{3}))$`, '_rq_'],
  [T.RESPONSE_CODE_CLASS, String.raw`_rq_((\d))xx$`, '_rq_'],
  [T.DYNAMO_PARTITION_ID,
    String.raw`^http\.<TAG_VALUE>\.dynamodb\.table\.<TAG_VALUE>\.capacity\.<TAG_VALUE>(\.__partition_id=(\w{7}))$`,
    '.dynamodb.table.'],
  [T.DYNAMO_OPERATION,
    String.raw`^http\.<TAG_VALUE>\.dynamodb.(?:operation|table\.<TAG_VALUE>\.capacity)(\.(<TAG_VALUE>))(?:\.|$)`,
    '.dynamodb.'],
  [T.DYNAMO_TABLE, String.raw`^http\.<TAG_VALUE>\.dynamodb.(?:table|error)\.((<TAG_VALUE>)\.)`, '.dynamodb.'],
  [T.SSL_CIPHER, String.raw`^listener\..*?\.ssl\.ciphers(\.(<CIPHER>))$`, '.ssl.ciphers.'],
  [T.SSL_CURVE, String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.curves(\.(<CIPHER>))$`, '.ssl.curves.'],
  [T.SSL_SIGALG, String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.sigalgs(\.(<CIPHER>))$`, '.ssl.sigalgs.'],
  [T.SSL_VERSION, String.raw`^<LISTENER_OR_CLUSTER_WITH_NAME>\.ssl\.versions(\.(<TLS_VERSION>))$`, '.ssl.versions.'],
  [T.SSL_CIPHER_SUITE, String.raw`^cluster\.<TAG_VALUE>\.ssl\.ciphers(\.(<CIPHER>))$`, '.ssl.ciphers.'],
  [T.HTTP_CONN_MANAGER_PREFIX, String.raw`^listener\..*?\.http\.((<TAG_VALUE>)\.)`, '.http.'],
  [T.WORKER_ID,
    String.raw`^(?:listener\.(?:<ADDRESS>|<TAG_VALUE>)\.|server\.|listener_manager\.)worker_((\d+)\.)`],
  [T.LISTENER_ADDRESS, String.raw`^listener\.((<ADDRESS>|<TAG_VALUE>)\.)`, '', 'admin'],
  [T.RDS_ROUTE_CONFIG, String.raw`^http\.<TAG_VALUE>\.rds\.((<ROUTE_CONFIG_NAME>)\.)\w+?$`, '.rds.'],
];

// addTokenized() calls in order.
const TOKEN_DESCRIPTORS: readonly TokenDesc[] = [
  [T.MONGO_CALLSITE, 'mongo.*.collection.*.callsite.$.query.**'],
  [T.MONGO_COLLECTION, 'mongo.*.collection.$.**.query.*'],
  [T.MONGO_CMD, 'mongo.*.cmd.$.**'],
  [T.GRPC_BRIDGE_METHOD, 'cluster.*.grpc.*.$.**'],
  [T.HTTP_USER_AGENT, 'http.*.user_agent.$.**'],
  [T.VIRTUAL_CLUSTER, 'vhost.*.vcluster.$.**'],
  [T.FAULT_DOWNSTREAM_CLUSTER, 'http.*.fault.$.**'],
  [T.GRPC_BRIDGE_SERVICE, 'cluster.*.grpc.$.**'],
  [T.TCP_PREFIX, 'tcp.$.**'],
  [T.UDP_PREFIX, 'udp.$.**'],
  [T.CLIENTSSL_PREFIX, 'auth.clientssl.$.**'],
  [T.RATELIMIT_PREFIX, 'ratelimit.$.**'],
  [T.CLUSTER_NAME, 'cluster.$.**'],
  [T.EXT_AUTHZ_PREFIX, 'cluster.*.ext_authz.$.**'],
  [T.EXT_AUTHZ_PREFIX, 'http.*.ext_authz.$.**'],
  [T.HTTP_CONN_MANAGER_PREFIX, 'http.$.**'],
  [T.VIRTUAL_HOST, 'vhost.$.**'],
  [T.MONGO_PREFIX, 'mongo.$.**'],
  [T.ROUTE, 'vhost.*.route.$.**'],
  [T.THRIFT_PREFIX, 'thrift.$.**'],
  [T.REDIS_PREFIX, 'redis.$.**'],
  [T.LOCAL_HTTP_RATELIMIT_PREFIX, '$.http_local_rate_limit.**'],
  [T.LOCAL_NETWORK_RATELIMIT_PREFIX, 'local_rate_limit.$.**'],
  [T.LOCAL_LISTENER_RATELIMIT_PREFIX, 'listener_local_ratelimit.$.**'],
  [T.DNS_FILTER_PREFIX, 'dns_filter.$.**'],
];

interface Ctx {
  readonly name: string;
  tokens: string[] | null;
}

interface Extractor {
  readonly tagName: string;
  /** Literal first token the name must start with, or '' (runs on every name). */
  readonly prefix: string;
  sameNameExists: boolean;
  extract(ctx: Ctx, tags: Tag[], remove: number[]): boolean;
}

// TagExtractorImplBase::extractRegexPrefix: `^word\.` or `^word$` gives `word`.
function regexPrefix(re: string): string {
  if (!re.startsWith('^')) return '';
  let i = 1;
  while (i < re.length && /[A-Za-z0-9_]/.test(re[i])) i++;
  if (i === 1 || i === re.length) return '';
  const rest = re.slice(i);
  if (rest.startsWith('\\.') || rest.startsWith('(?=\\.)') || (i === re.length - 1 && re[i] === '$')) {
    return re.slice(1, i);
  }
  return '';
}

class RegexExtractor implements Extractor {
  readonly tagName: string;
  readonly prefix: string;
  sameNameExists: boolean;
  readonly #re: RegExp;
  readonly #substr: string;
  readonly #negative: string;

  constructor(tagName: string, regex: string, substr = '', negative = '') {
    const expanded = expand(regex);
    this.tagName = tagName;
    this.prefix = regexPrefix(expanded);
    this.sameNameExists = false;
    this.#re = new RegExp(expanded, 'd');
    this.#substr = substr;
    this.#negative = negative;
  }

  extract(ctx: Ctx, tags: Tag[], remove: number[]): boolean {
    if (this.#substr !== '' && !ctx.name.includes(this.#substr)) return false;
    const m = this.#re.exec(ctx.name);
    if (m === null || m[1] === undefined || m[1] === '' || m.indices === undefined) return false;
    const value = m[2] !== undefined && m[2] !== '' ? m[2] : m[1];
    if (this.#negative !== '' && value === this.#negative) return false;
    const [start, end] = m.indices[1]!;
    tags.push({ name: this.tagName, value });
    remove.push(start, end);
    return true;
  }
}

class TokenExtractor implements Extractor {
  readonly tagName: string;
  readonly prefix: string;
  sameNameExists: boolean;
  readonly #tokens: string[];
  readonly #match: number;

  constructor(tagName: string, pattern: string) {
    this.tagName = tagName;
    this.#tokens = pattern.split('.');
    this.#match = this.#tokens.indexOf('$');
    const first = this.#tokens[0];
    this.prefix = first === '$' || first === '*' || first === '**' ? '' : first;
    this.sameNameExists = false;
  }

  extract(ctx: Ctx, tags: Tag[], remove: number[]): boolean {
    const input = (ctx.tokens ??= ctx.name.split('.'));
    const found = { start: 0, index: input.length };
    if (!this.#search(input, 0, 0, 0, found)) return false;
    const value = input[found.index];
    let start = found.start;
    let end = start + value.length;
    // Take the dot after the token, or before it when it is the last one.
    if (found.index < input.length - 1) end++;
    else if (start > 0) start--;
    tags.push({ name: this.tagName, value });
    remove.push(start, end);
    return true;
  }

  // TagExtractorTokensImpl::searchTags, including its quirk that the character index does not
  // advance past the `$` token (only `start` matters once it is found).
  #search(input: string[], ii: number, pi: number, ci: number, found: { start: number; index: number }): boolean {
    const tokens = this.#tokens;
    for (; ii < input.length && pi < tokens.length; ii++, pi++) {
      if (pi === this.#match) {
        found.start = ci;
        found.index = ii;
        continue;
      }
      const expected = tokens[pi];
      if (expected === '**') {
        if (pi === tokens.length - 1) {
          pi = tokens.length;
          ii = input.length;
          break;
        }
        pi++;
        for (; ii < input.length; ii++) {
          if (this.#search(input, ii, pi, ci, found)) return true;
          ci += input[ii].length + 1;
        }
        return false;
      }
      if (expected !== '*' && expected !== input[ii]) return false;
      ci += input[ii].length + 1;
    }
    return pi === tokens.length && ii === input.length;
  }
}

function removeRanges(name: string, ranges: number[]): string {
  if (ranges.length === 0) return name;
  const cut = new Uint8Array(name.length);
  for (let i = 0; i < ranges.length; i += 2) cut.fill(1, ranges[i], ranges[i + 1]);
  let out = '';
  let from = -1;
  for (let i = 0; i <= name.length; i++) {
    const keep = i < name.length && cut[i] === 0;
    if (keep && from < 0) from = i;
    else if (!keep && from >= 0) {
      out += name.slice(from, i);
      from = -1;
    }
  }
  return out;
}

/** Envoy's TagProducerImpl with the default extractors (use_all_default_tags). Results are cached
 *  per name: stat names are fixed once defined. */
export class TagProducer {
  readonly #withoutPrefix: Extractor[];
  readonly #byPrefix: Map<string, Extractor[]>;
  readonly #cache: Map<string, TaggedName>;

  constructor() {
    this.#withoutPrefix = [];
    this.#byPrefix = new Map();
    this.#cache = new Map();
    const seen = new Map<string, Extractor>();
    const add = (x: Extractor): void => {
      const other = seen.get(x.tagName);
      if (other !== undefined) {
        other.sameNameExists = true;
        x.sameNameExists = true;
      } else {
        seen.set(x.tagName, x);
      }
      if (x.prefix === '') this.#withoutPrefix.push(x);
      else {
        let list = this.#byPrefix.get(x.prefix);
        if (list === undefined) this.#byPrefix.set(x.prefix, (list = []));
        list.push(x);
      }
    };
    for (const [name, re, substr, negative] of REGEX_DESCRIPTORS) add(new RegexExtractor(name, re, substr, negative));
    for (const [name, tokens] of TOKEN_DESCRIPTORS) add(new TokenExtractor(name, tokens));
  }

  produceTags(name: string): TaggedName {
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached;
    const ctx: Ctx = { name, tokens: null };
    const tags: Tag[] = [];
    const remove: number[] = [];
    const done = new Set<string>();
    const run = (x: Extractor): void => {
      if (x.sameNameExists && done.has(x.tagName)) return;
      if (x.extract(ctx, tags, remove) && x.sameNameExists) done.add(x.tagName);
    };
    for (const x of this.#withoutPrefix) run(x);
    const dot = name.indexOf('.');
    if (dot >= 0) {
      const list = this.#byPrefix.get(name.slice(0, dot));
      if (list !== undefined) for (const x of list) run(x);
    }
    const out: TaggedName = { name: removeRanges(name, remove), tags };
    this.#cache.set(name, out);
    return out;
  }
}
