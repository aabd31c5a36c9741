// Configuration of `mtasts socketmap`: a YAML file with our keys, which also reads the keys of
// postfix-mta-sts-resolver's mta-sts-daemon.yml that mean something here, so switching is one
// line of main.cf. Flags override the file. Every mistake is MtaStsError `config-invalid`.
//
// postfix-mta-sts-resolver keys:  host, port, path, mode, shutdown_timeout, cache_grace,
//   cache { type: internal | redis, options { address } }, proactive_policy_fetching { enabled,
//   interval }, default_zone and zones { NAME: { strict_testing, timeout, require_sni, tlsrpt } };
//   reuse_port and proactive_policy_fetching's concurrency_limit and grace_ratio are read and
//   have no effect (noted).
// Our keys: listen (a list of HOST:PORT, [V6]:PORT or unix:PATH), socket_mode, store (memory,
//   file:DIR, redis://...), metrics (HOST:PORT), log_level, log_file, answer_ttl,
//   refresh_interval, recheck_after, max_request, max_pending, request_timeout, idle_timeout,
//   max_connections, dns_servers, ca_file, policy_port, dns_timeout, fetch_timeout; per zone
//   also postfix_sts_attributes (= tlsrpt: the Postfix ≥ 3.10 attributes).

import { readFileSync } from 'node:fs';
import { peerDependency } from '../peer-dependency.js';

const parse = (text, options) => peerDependency('yaml', 'a socketmap YAML configuration').parse(text, options);
import { MtaStsError } from '../error.js';
import { parseHostPort } from '../relay/config.js';
import { LOG_LEVELS } from '../relay/log.js';
import { isRedisSpec } from '../stores/redis-connection.js';

export const DEFAULT_PORT = 8461;

const TOP_KEYS = new Set([
  'host', 'port', 'path', 'mode', 'reuse_port', 'shutdown_timeout', 'cache_grace', 'cache', 'proactive_policy_fetching', 'default_zone', 'zones',
  'listen', 'socket_mode', 'store', 'metrics', 'log_level', 'log_file', 'answer_ttl', 'refresh_interval', 'recheck_after', 'max_request', 'max_pending',
  'request_timeout', 'idle_timeout', 'max_connections', 'dns_servers', 'ca_file', 'policy_port', 'dns_timeout', 'fetch_timeout',
]);
const ZONE_KEYS = new Set(['strict_testing', 'timeout', 'require_sni', 'tlsrpt', 'postfix_sts_attributes']);

const invalid = (message) => new MtaStsError('config-invalid', message);
const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v);

/** Reads a YAML config file (YAML 1.1, as PyYAML reads mta-sts-daemon.yml: `mode: 0666` is octal). */
export function readSocketmapConfig(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read config file ${file}: ${err.code ?? err.message}`);
  }
  let doc;
  try {
    doc = parse(text, { version: '1.1', prettyErrors: false, maxAliasCount: 100 });
  } catch (err) {
    throw invalid(`config file ${file} is not YAML: ${err.message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(`config file ${file} must hold a mapping of keys, found ${kind(doc)}`);
  return doc;
}

function number(value, what, { min, max, integer = false }) {
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw invalid(`${what} needs ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, found ${JSON.stringify(value)}`);
  }
  return n;
}

function boolean(value, what) {
  if (typeof value !== 'boolean') throw invalid(`${what} needs true or false, found ${JSON.stringify(value)}`);
  return value;
}

function mapping(value, what) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${what} needs a mapping, found ${kind(value)}`);
  return value;
}

/** A unix socket mode: an integer (0666 in YAML 1.1 is octal) or an octal string "0660". */
function socketMode(value, what) {
  if (typeof value === 'string' && /^0?[0-7]{3}$/.test(value)) return parseInt(value, 8);
  if (Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  throw invalid(`${what} needs a file mode such as 0660, found ${JSON.stringify(value)}`);
}

function zoneOf(doc, what, notes) {
  const z = mapping(doc ?? {}, what);
  for (const k of Object.keys(z)) if (!ZONE_KEYS.has(k)) throw invalid(`${what}: unknown key ${JSON.stringify(k)} (keys: ${[...ZONE_KEYS].join(', ')})`);
  if (z.require_sni === false) notes.push(`${what}.require_sni: false has no effect: the answer always says servername=hostname (the MX name is sent as SNI, RFC 8461 §4.2)`);
  else if (z.require_sni !== undefined) boolean(z.require_sni, `${what}.require_sni`);
  const attrs = z.postfix_sts_attributes ?? z.tlsrpt;
  return {
    strictTesting: z.strict_testing === undefined ? false : boolean(z.strict_testing, `${what}.strict_testing`),
    stsAttributes: attrs === undefined ? false : boolean(attrs, `${what}.${z.postfix_sts_attributes === undefined ? 'tlsrpt' : 'postfix_sts_attributes'}`),
    // postfix-mta-sts-resolver's default: 4 s for a discovery.
    timeout: Math.round(number(z.timeout ?? 4, `${what}.timeout`, { min: 0.05, max: 600 }) * 1000),
  };
}

/** `HOST:PORT`, `[V6]:PORT` or `unix:PATH` → { host, port } | { path, mode }. */
function listener(text, mode) {
  if (typeof text !== 'string') throw invalid(`listen needs HOST:PORT or unix:PATH, found ${kind(text)}`);
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path.startsWith('/')) throw invalid(`listen unix:PATH needs an absolute path, found ${JSON.stringify(text)}`);
    return { path, mode };
  }
  try {
    return parseHostPort(text, 'listen');
  } catch (err) {
    throw invalid(`${err.message.replace('(127.0.0.1:10025, [::1]:10025)', `(127.0.0.1:${DEFAULT_PORT}, [::1]:${DEFAULT_PORT}) or unix:PATH`)}`);
  }
}

/**
 * Merges a config file's mapping and flags (flags win) into the socketmap configuration
 * (times in ms, except answerTtl, recheckAfter and refreshInterval in seconds).
 * `notes` lists keys that were read and have no effect here.
 */
export function resolveSocketmapConfig(doc = {}, flags = {}) {
  mapping(doc, 'the config');
  for (const k of Object.keys(doc)) if (!TOP_KEYS.has(k)) throw invalid(`unknown key ${JSON.stringify(k)} (keys: ${[...TOP_KEYS].join(', ')})`);
  const notes = [];
  const get = (flag, key) => (flags[flag] !== undefined ? flags[flag] : doc[key]);

  const mode = doc.socket_mode ?? doc.mode;
  const unixMode = mode === undefined ? undefined : socketMode(mode, doc.socket_mode === undefined ? 'mode' : 'socket_mode');
  let listen;
  const given = get('listen', 'listen');
  if (given !== undefined) {
    const list = Array.isArray(given) ? given : [given];
    if (list.length === 0) throw invalid('listen needs at least one HOST:PORT or unix:PATH');
    listen = list.map((l) => listener(l, unixMode));
  } else if (doc.path !== undefined) {
    if (typeof doc.path !== 'string' || !doc.path.startsWith('/')) throw invalid(`path needs an absolute path, found ${JSON.stringify(doc.path)}`);
    listen = [{ path: doc.path, mode: unixMode }];
  } else {
    const host = doc.host ?? '127.0.0.1';
    if (typeof host !== 'string') throw invalid(`host needs an address, found ${kind(host)}`);
    const port = number(doc.port ?? DEFAULT_PORT, 'port', { min: 0, max: 65535, integer: true });
    listen = [{ host, port }];
  }
  if (doc.reuse_port !== undefined) notes.push('reuse_port has no effect (one process listens)');

  // The policy cache: our `store`, else postfix-mta-sts-resolver's `cache`.
  let store = get('store', 'store') ?? null;
  if (store === null && doc.cache !== undefined) {
    const cache = mapping(doc.cache, 'cache');
    const type = cache.type ?? 'internal';
    if (type === 'internal') store = 'memory';
    else if (type === 'redis') {
      const address = cache.options?.address ?? cache.options?.url;
      if (!isRedisSpec(address)) throw invalid(`cache.options.address needs a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL for cache type redis, found ${JSON.stringify(address)}`);
      store = address;
    } else throw invalid(`cache type ${JSON.stringify(type)} is not supported: use internal, redis, or store: file:DIR`);
  }
  if (store !== null && typeof store !== 'string') throw invalid(`store needs memory, file:DIR or redis://..., found ${kind(store)}`);

  const proactive = doc.proactive_policy_fetching === undefined ? {} : mapping(doc.proactive_policy_fetching, 'proactive_policy_fetching');
  for (const k of ['concurrency_limit', 'grace_ratio']) if (proactive[k] !== undefined) notes.push(`proactive_policy_fetching.${k} has no effect: the core decides when an entry is due (RFC 8461 §3.3)`);
  let refreshInterval = 900;
  if (proactive.enabled === false) refreshInterval = 0;
  else if (proactive.enabled === true && proactive.interval !== undefined) refreshInterval = number(proactive.interval, 'proactive_policy_fetching.interval', { min: 1, max: 31_557_600 });
  const refresh = get('refreshInterval', 'refresh_interval');
  if (refresh !== undefined) refreshInterval = number(refresh, 'refresh_interval', { min: 0, max: 31_557_600 });

  const metricsText = get('metrics', 'metrics');
  const logLevel = get('logLevel', 'log_level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw invalid(`log_level must be one of ${LOG_LEVELS.join(', ')}, found ${JSON.stringify(logLevel)}`);
  const dnsServers = get('dnsServers', 'dns_servers');

  const zones = {};
  if (doc.zones !== undefined) {
    for (const [name, z] of Object.entries(mapping(doc.zones, 'zones'))) zones[name] = zoneOf(z, `zones.${name}`, notes);
  }
  const seconds = (flag, key, fallback, opts) => {
    const v = get(flag, key);
    return v === undefined ? fallback : number(v, key, opts);
  };
  return {
    listen,
    store,
    defaultZone: zoneOf(doc.default_zone, 'default_zone', notes),
    zones,
    // cache_grace: postfix-mta-sts-resolver's seconds before a cached policy's TXT id is checked.
    recheckAfter: seconds('recheckAfter', 'recheck_after', doc.cache_grace === undefined ? 300 : number(doc.cache_grace, 'cache_grace', { min: 0, max: 86_400 }), { min: 0, max: 86_400 }),
    answerTtl: seconds('answerTtl', 'answer_ttl', 30, { min: 0, max: 3600 }),
    refreshInterval,
    shutdownTimeout: Math.round(seconds('shutdownTimeout', 'shutdown_timeout', 20, { min: 0, max: 3600 }) * 1000),
    maxRequest: seconds('maxRequest', 'max_request', 2048, { min: 64, max: 100_000, integer: true }),
    maxPending: seconds('maxPending', 'max_pending', 64, { min: 1, max: 10_000, integer: true }),
    requestTimeout: Math.round(seconds('requestTimeout', 'request_timeout', 10, { min: 0.01, max: 3600 }) * 1000),
    idleTimeout: Math.round(seconds('idleTimeout', 'idle_timeout', 600, { min: 0.01, max: 86_400 }) * 1000),
    maxConnections: seconds('maxConnections', 'max_connections', 1000, { min: 1, max: 100_000, integer: true }),
    metrics: metricsText === undefined || metricsText === null ? null : parseHostPort(String(metricsText), 'metrics'),
    logLevel,
    logFile: get('logFile', 'log_file') ?? null,
    dnsServers: dnsServers === undefined || dnsServers === null ? undefined : Array.isArray(dnsServers) ? dnsServers.map(String) : [String(dnsServers)],
    caFile: get('caFile', 'ca_file') ?? null,
    policyPort: get('policyPort', 'policy_port') === undefined ? undefined : number(get('policyPort', 'policy_port'), 'policy_port', { min: 1, max: 65535, integer: true }),
    // Below the default zone's 4 s, so a cached policy is answered before the zone gives up.
    dnsTimeout: Math.round(seconds('dnsTimeout', 'dns_timeout', 1.5, { min: 0.01, max: 600 }) * 1000),
    fetchTimeout: Math.round(seconds('fetchTimeout', 'fetch_timeout', 10, { min: 0.01, max: 3600 }) * 1000),
    notes,
  };
}
