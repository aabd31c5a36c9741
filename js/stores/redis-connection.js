// One Redis connection (ioredis) shared by the Redis policy store (redis.js) and the Redis TLS-RPT
// log (redis-tlsrpt-log.js), built so that Redis can never hold up mail:
// - every call is bounded by `commandTimeout` (default 500 ms) and fails at once while Redis is not
//   ready (ioredis's offline queue is off): the callers then serve from their local layer;
// - the connection re-dials by itself (backoff 250 ms doubling to 10 s), with timers and a socket
//   that do not keep the process alive: a one-shot command (`mtasts check`, `report build`) exits
//   when its work is done, while a call in flight keeps it alive until it is answered or times out;
// - a call that times out drops the connection and dials again (a Redis that stopped answering may
//   answer the next connection), and a connection that is not ready `connectTimeout` after its TCP
//   connect (a peer that accepts and never answers) is dropped too;
// - going down and coming back are logged once each and counted (`stats`), and `onReady` listeners
//   are told when it is back, so that the layers above push what they kept meanwhile.
//
// Spec: a URL `redis://[user:pass@]host[:port][/db]` or `rediss://…` (TLS; ioredis parses the URL),
//   `redis+sentinel://[user:pass@]host:port[,host:port…]/NAME[/db]` (the master NAME as the
//   sentinels at those addresses name it; the password is the master's),
//   `redis+cluster://[user:pass@]host:port[,host:port…]` (a Cluster, from those start-up nodes),
//   and `rediss+sentinel://…`, `rediss+cluster://…` (TLS to every node), with our own query
//   parameters, removed before ioredis sees the URL:
//   local=memory|DIR   the local layer (redis.js); timeout=MS the command timeout; prefix=P key prefix;
//   ca=FILE            with TLS: also trust the CA certificates (PEM) in FILE (added to the system
//                      roots, as --ca-file for policy hosts; a private CA for Redis)
// Or an options object: { url } or { sentinels, name } (Sentinel) or { cluster: [nodes] } (Cluster),
// with prefix, commandTimeout, connectTimeout, local, and any further ioredis option.

import { readFileSync } from 'node:fs';
import { MtaStsError } from '../error.js';
import { peerDependency } from '../peer-dependency.js';
import { policyTrustAnchors } from '../node/https.js';

export const DEFAULT_COMMAND_TIMEOUT_MS = 500;
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
export const DEFAULT_PREFIX = 'mtasts:';
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;
const OWN_PARAMS = ['local', 'timeout', 'prefix', 'ca'];
const SCHEME = /^(rediss?)(\+sentinel|\+cluster)?:\/\//i;
const OWN_OPTIONS = ['url', 'cluster', 'prefix', 'commandTimeout', 'connectTimeout', 'local', 'clusterOptions'];

/** Whether `spec` is a Redis store spec (`redis://…` or `rediss://…`). */
export function isRedisSpec(spec) {
  return typeof spec === 'string' && SCHEME.test(spec);
}

function invalid(message) {
  return new MtaStsError('store-redis-invalid-spec', message);
}

function timeoutOf(value, what) {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(n) || n < 1 || n > 60_000) throw invalid(`${what} must be a whole number of milliseconds from 1 to 60000, found ${JSON.stringify(value)}`);
  return n;
}

/**
 * Reads a spec (see the top of this file).
 * @returns {{ url?: string, options: object, cluster?: object[], prefix: string, local: string | null,
 *   commandTimeout: number, connectTimeout: number, where: string }} `where`: the URL without its password
 */
export function parseRedisSpec(spec) {
  if (typeof spec === 'string' && /^rediss?\+(sentinel|cluster):\/\//i.test(spec)) return parseTopologyUrl(spec);
  if (typeof spec === 'string') {
    let url;
    try {
      url = new URL(spec);
    } catch {
      throw invalid(`a redis store is redis://host[:port][/db] or rediss://…, found ${JSON.stringify(spec)}`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw invalid(`a redis store is redis://host[:port][/db] or rediss://…, found ${JSON.stringify(spec)}`);
    }
    if (url.hostname === '') throw invalid(`a redis url needs a host, found ${JSON.stringify(spec)}`);
    const local = url.searchParams.get('local');
    if (local === '') throw invalid('local= needs memory or a directory');
    const prefix = url.searchParams.get('prefix') ?? DEFAULT_PREFIX;
    const commandTimeout = url.searchParams.has('timeout') ? timeoutOf(url.searchParams.get('timeout'), 'timeout=') : DEFAULT_COMMAND_TIMEOUT_MS;
    const options = tlsOptions(url.protocol === 'rediss:', url.searchParams.get('ca'));
    for (const p of OWN_PARAMS) url.searchParams.delete(p);
    const where = new URL(url.href);
    if (where.password) where.password = '***';
    return { url: url.href, options, prefix, local, commandTimeout, connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS, where: where.href };
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw invalid(`a redis store needs a redis:// url or an options object, found ${spec === null ? 'null' : typeof spec}`);
  }
  if (spec.url !== undefined) {
    const parsed = parseRedisSpec(spec.url);
    return { ...parsed, ...ownOptions(spec, parsed), options: otherOptions(spec) };
  }
  if (spec.cluster !== undefined && (!Array.isArray(spec.cluster) || spec.cluster.length === 0)) {
    throw invalid('cluster needs a list of nodes ({ host, port })');
  }
  if (spec.cluster === undefined && spec.sentinels === undefined && spec.host === undefined && spec.path === undefined) {
    throw invalid('a redis options object needs url, host, path, sentinels or cluster');
  }
  const defaults = { prefix: DEFAULT_PREFIX, local: null, commandTimeout: DEFAULT_COMMAND_TIMEOUT_MS, connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS };
  const where = spec.cluster ? `redis cluster ${spec.cluster.map((n) => `${n.host ?? '127.0.0.1'}:${n.port ?? 6379}`).join(',')}`
    : spec.sentinels ? `redis sentinel ${spec.name ?? 'mymaster'}` : `redis ${spec.path ?? `${spec.host}:${spec.port ?? 6379}`}`;
  return { ...defaults, ...ownOptions(spec, defaults), cluster: spec.cluster, options: otherOptions(spec), where };
}

/** ioredis's `tls` option for a rediss URL: the system roots, plus the CAs of `ca=FILE`. */
function tlsOptions(tls, caFile) {
  if (caFile === null || caFile === undefined) return tls ? { tls: {} } : {};
  if (!tls) throw invalid('ca= is for TLS: use rediss://');
  let pem;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw invalid(`ca=${caFile}: cannot read it (${err.code ?? err.message})`);
  }
  return { tls: { ca: policyTrustAnchors(pem) } };
}

/**
 * `redis+sentinel://` and `redis+cluster://` (and rediss+…): several host:port, which the WHATWG
 * URL parser refuses, so read here; the query is our own parameters only.
 */
function parseTopologyUrl(spec) {
  const m = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(spec);
  const kind = m?.[2]?.toLowerCase();
  if (!m) throw invalid(`a redis store is redis+sentinel://host:port[,host:port…]/NAME[/db] or redis+cluster://host:port[,host:port…], found ${JSON.stringify(spec)}`);
  const nodes = m[4].split(',').map((hp) => {
    const n = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(hp);
    if (!n) throw invalid(`${kind} node ${JSON.stringify(hp)} is not host[:port]`);
    const port = n[2] === undefined ? (kind === 'sentinel' ? 26379 : 6379) : Number(n[2]);
    if (port < 1 || port > 65535) throw invalid(`${kind} node ${JSON.stringify(hp)}: the port must be 1-65535`);
    return { host: n[1].replace(/^\[|\]$/g, ''), port };
  });
  const params = new URLSearchParams(m[6] ?? '');
  for (const key of params.keys()) {
    if (!OWN_PARAMS.includes(key)) throw invalid(`${kind} urls take only ${OWN_PARAMS.map((p) => `${p}=`).join(', ')}; found ${key}=`);
  }
  const local = params.get('local');
  if (local === '') throw invalid('local= needs memory or a directory');
  const options = tlsOptions(m[1].toLowerCase() === 'rediss', params.get('ca'));
  if (m[3]) {
    const [user, password] = m[3].split(':').map(decodeURIComponent);
    if (password === undefined) options.password = user;
    else {
      if (user) options.username = user;
      options.password = password;
    }
  }
  const base = { prefix: params.get('prefix') ?? DEFAULT_PREFIX, local, connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS,
    commandTimeout: params.has('timeout') ? timeoutOf(params.get('timeout'), 'timeout=') : DEFAULT_COMMAND_TIMEOUT_MS };
  const list = nodes.map((n) => `${n.host}:${n.port}`).join(',');
  if (kind === 'cluster') {
    if (m[5] && m[5] !== '/') throw invalid('a redis cluster has no database number: redis+cluster://host:port[,host:port…]');
    return { ...base, cluster: nodes, options, where: `redis cluster ${list}` };
  }
  const path = (m[5] ?? '').split('/').filter(Boolean);
  if (path.length < 1 || path.length > 2 || (path[1] !== undefined && !/^\d{1,2}$/.test(path[1]))) {
    throw invalid(`redis+sentinel://host:port[,host:port…]/NAME[/db] needs the master's name, found ${JSON.stringify(m[5] ?? '')}`);
  }
  options.sentinels = nodes;
  options.name = decodeURIComponent(path[0]);
  if (path[1] !== undefined) options.db = Number(path[1]);
  // Interop: ioredis asks the sentinels over TLS too only when told (sentinelTLS / enableTLSForSentinelMode).
  if (options.tls) Object.assign(options, { enableTLSForSentinelMode: true, sentinelTLS: options.tls });
  return { ...base, options, where: `redis sentinel ${options.name} via ${list}` };
}

function ownOptions(spec, base) {
  const out = {};
  if (spec.prefix !== undefined) {
    if (typeof spec.prefix !== 'string') throw invalid('prefix must be a string');
    out.prefix = spec.prefix;
  }
  if (spec.local !== undefined) out.local = spec.local;
  out.commandTimeout = spec.commandTimeout === undefined ? base.commandTimeout : timeoutOf(spec.commandTimeout, 'commandTimeout');
  out.connectTimeout = spec.connectTimeout === undefined ? base.connectTimeout : timeoutOf(spec.connectTimeout, 'connectTimeout');
  if (spec.clusterOptions !== undefined) out.clusterOptions = spec.clusterOptions;
  return out;
}

function otherOptions(spec) {
  return Object.fromEntries(Object.entries(spec).filter(([k]) => !OWN_OPTIONS.includes(k)));
}

/** A logger that says nothing (the default). */
const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/**
 * @param {string | object} spec see parseRedisSpec
 * @param {object} [options]
 * @param {object} [options.log] pino-like logger (info/warn/error); default silent
 * @param {object} [options.ioredis] the ioredis module (default: the installed ioredis)
 */
export function redisConnection(spec, { log = quiet, ioredis } = {}) {
  const parsed = parseRedisSpec(spec);
  // Loaded now: a missing ioredis is `missing-dependency` at once, not a Redis that seems down.
  const ioredisModule = ioredis ?? peerDependency('ioredis', 'redisStore and redisTlsrptLog');
  const stats = { calls: 0, failures: 0, timeouts: 0, unavailable: 0, downs: 0, ups: 0 };
  const readyListeners = new Set();
  let client = null;
  let closed = false;
  let up = false;
  let downLogged = false;
  // Whether the first dial has ended (ready or failed): until then a call waits for it, at most
  // the command timeout, so that a process that just started does not miss a Redis that is there.
  let settled = false;
  let reconnectTimer = null;
  let readyTimer = null;
  let delay = RECONNECT_MIN_MS;
  let loading = null;

  function unrefStreams() {
    // Interop: ioredis gives no option for it; its socket is `stream` (a Cluster: one per node).
    const nodes = typeof client?.nodes === 'function' ? client.nodes() : [client];
    for (const node of nodes) node?.stream?.unref?.();
  }

  function markDown(why) {
    settled = true;
    // Logged when it goes down, and once if it was never up; not at every failed dial.
    if (up || !downLogged) {
      if (up) stats.downs++;
      log.warn({ event: 'redis-down', redis: parsed.where, why });
    }
    up = false;
    downLogged = true;
  }

  function scheduleReconnect() {
    if (closed || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      if (closed) return;
      client.connect().catch(() => {}); // failures arrive as 'error' and 'end'
    }, delay);
    reconnectTimer.unref();
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  }

  function attach() {
    client.on('connect', () => {
      unrefStreams();
      clearTimeout(readyTimer);
      // A peer that accepts and never answers the ready check is dropped and dialled again.
      readyTimer = setTimeout(() => {
        if (!up && client.status !== 'ready') client.disconnect();
      }, parsed.connectTimeout);
      readyTimer.unref();
    });
    client.on('ready', () => {
      clearTimeout(readyTimer);
      unrefStreams();
      up = true;
      downLogged = false;
      settled = true;
      delay = RECONNECT_MIN_MS;
      stats.ups++;
      log.info({ event: 'redis-up', redis: parsed.where });
      for (const fn of readyListeners) {
        try {
          fn();
        } catch {
          // a listener's failure is its own
        }
      }
    });
    client.on('error', (err) => markDown(err?.message ?? String(err)));
    client.on('close', () => markDown('connection closed'));
    client.on('end', () => {
      markDown('connection ended');
      scheduleReconnect();
    });
  }

  function load() {
    loading ??= (async () => {
      const mod = ioredisModule;
      const Redis = mod.Redis ?? mod.default ?? mod;
      const common = {
        ...parsed.options,
        lazyConnect: true,
        enableOfflineQueue: false,
        commandTimeout: parsed.commandTimeout,
        connectTimeout: parsed.connectTimeout,
        maxRetriesPerRequest: 0,
        // We dial again ourselves (scheduleReconnect), with timers that do not hold the process.
        retryStrategy: () => null,
      };
      if (parsed.cluster) {
        const Cluster = mod.Cluster ?? Redis.Cluster;
        client = new Cluster(parsed.cluster, { ...parsed.clusterOptions, enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: common });
      } else {
        client = parsed.url ? new Redis(parsed.url, common) : new Redis(common);
      }
      attach();
      if (!closed) client.connect().catch(() => {});
      return client;
    })();
    return loading;
  }
  load().catch((err) => log.error({ event: 'redis-unavailable', redis: parsed.where, why: err.message }));

  /** Calls `fn` each time Redis becomes ready (after a start or an outage). Returns an unsubscribe. */
  function onReady(fn) {
    readyListeners.add(fn);
    if (up) queueMicrotask(fn);
    return () => readyListeners.delete(fn);
  }

  /** Resolves true once Redis is ready, or false after `ms`. */
  async function waitUntilUp(ms = parsed.connectTimeout) {
    if (up) return true;
    if (closed) return false;
    await load().catch(() => {});
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        off();
        resolve(false);
      }, ms);
      const off = onReady(() => {
        clearTimeout(t);
        off();
        resolve(true);
      });
    });
  }

  /**
   * Runs `fn(client)` bounded by the command timeout.
   * @throws {MtaStsError} `store-redis-unavailable` (not connected, failed, closed) or
   *   `store-redis-timeout`; both `temporary`
   */
  async function run(what, fn) {
    stats.calls++;
    if (closed) {
      stats.unavailable++;
      throw unavailable(what, 'the connection is closed');
    }
    let c;
    try {
      c = await load();
    } catch (err) {
      stats.unavailable++;
      throw unavailable(what, `cannot load ioredis: ${err.message}`, err);
    }
    if (!up && !settled) await waitUntilUp(parsed.commandTimeout);
    if (!up || (c.status !== undefined && c.status !== 'ready')) {
      stats.unavailable++;
      throw unavailable(what, 'not connected');
    }
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new MtaStsError('store-redis-timeout', `redis did not answer ${what} within ${parsed.commandTimeout} ms (${parsed.where})`), { temporary: true })), parsed.commandTimeout);
    });
    try {
      return await Promise.race([fn(c), timeout]);
    } catch (err) {
      if (err instanceof MtaStsError && err.code === 'store-redis-timeout') {
        stats.timeouts++;
        markDown(err.message);
        c.disconnect(); // 'end' dials again
        throw err;
      }
      if (/timed out/i.test(err?.message ?? '')) {
        stats.timeouts++;
        markDown(err.message);
        c.disconnect();
        throw Object.assign(new MtaStsError('store-redis-timeout', `redis did not answer ${what} within ${parsed.commandTimeout} ms (${parsed.where})`, { cause: err }), { temporary: true });
      }
      stats.failures++;
      if (/^(READONLY|MASTERDOWN|LOADING|CLUSTERDOWN)\b/.test(err?.message ?? '')) {
        // A Sentinel failover left us on a replica (or a node is not serving yet): dial again,
        // which asks the sentinels (or the cluster) where the master is now.
        markDown(err.message);
        c.disconnect();
      }
      if (err instanceof MtaStsError) throw err;
      throw unavailable(what, err?.message ?? String(err), err);
    } finally {
      clearTimeout(timer);
    }
  }

  function unavailable(what, why, cause) {
    const err = new MtaStsError('store-redis-unavailable', `redis ${what} failed (${parsed.where}): ${why}`, { cause });
    err.temporary = true;
    return err;
  }

  return {
    prefix: parsed.prefix,
    local: parsed.local,
    where: parsed.where,
    commandTimeout: parsed.commandTimeout,
    stats,
    /** Whether Redis answered the last time it was asked (and is connected). */
    get up() {
      return up;
    },
    run,
    onReady,
    waitUntilUp,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(reconnectTimer);
      clearTimeout(readyTimer);
      readyListeners.clear();
      const c = await loading?.catch(() => null);
      if (!c) return;
      if (up) {
        let t;
        await Promise.race([c.quit().catch(() => {}), new Promise((r) => (t = setTimeout(r, parsed.commandTimeout)))]);
        clearTimeout(t);
      }
      c.disconnect();
      up = false;
    },
  };
}
