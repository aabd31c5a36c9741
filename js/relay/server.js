// `mtasts relay`: the listening side (smtp-server) and the relay's shared parts — policy resolver
// and store, TLS-RPT log, metrics, log, background refresh, graceful shutdown. One transaction's
// logic is in session.js; the client towards the MX in downstream-smtp.js.
//
//   const relay = await startRelay(resolveConfig({}, { listen: ['127.0.0.1:0'], store: 'memory' }));
//   relay.addresses → [{ host, port }]; relay.metricsAddress; await relay.close();

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { homedir } from 'node:os';
import { MtaStsError } from '../error.js';
import { peerDependency } from '../peer-dependency.js';
// The Node entry loads the wasm core (and exports connectMx).
import { connectMx } from '../node/index.js';
import { relayNotice } from '../core.js';
import { createPolicyResolver } from '../node/resolve.js';
import { fileStore, memoryStore, redisStore, redisTlsrptLog } from '../stores/index.js';
import { isRedisSpec, redisConnection } from '../stores/redis-connection.js';
import { registerRedisMetrics } from '../stores/redis-metrics.js';
import { createAllowList, isLoopback } from './allow-list.js';
import { createLogger } from './log.js';
import { createDownstreamPool } from './downstream-pool.js';
import { openDeliveryJournal } from './delivery-journal.js';
import { createRelayMetrics, serveMetrics } from './metrics.js';
import { startRefresh } from './refresh.js';
import { startTlsrptSender } from './tlsrpt-sender.js';
import { dkimOptions } from '../tlsrpt/report-mail.js';
import { createDnsHost } from '../node/dns.js';
import { Transaction } from './session.js';
import { DEFAULT_KEEP_DAYS, fileTlsrptLog, memoryTlsrptLog, pruneTlsrptLog } from './tlsrpt-log.js';
import { checkPassword, loadUsers } from './users.js';

const { SMTPServer } = peerDependency('smtp-server', 'mtasts relay');
const { SMTPConnection } = peerDependency('smtp-server/lib/smtp-connection.js', 'mtasts relay');

const WITH_ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

/**
 * smtp-server adds an enhanced status code of its own choosing to every reply (RFC 2034) when
 * ENHANCEDSTATUSCODES is on. The relay's replies carry the right one already (the core's, or the
 * MX's): a reply text that starts with one is sent as it is.
 */
function keepEnhancedCodes(connection) {
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => {
    const first = Array.isArray(data) ? data[0] : data;
    return send(code, data, typeof first === 'string' && WITH_ENHANCED_CODE.test(first) ? false : context);
  };
}

/**
 * Interop: a client may shut down its sending side (shutdown(SHUT_WR), a TCP FIN) once it has sent
 * all it will send, and still read the replies: Exim 4.96 writes "QUIT" right behind the final "."
 * and half-closes before it reads the reply to the ".". The listener therefore keeps half-open
 * sockets (allowHalfOpen below), and this runs once the client's FIN has been read and every command
 * before it handled (the command parser, a Writable, emits 'finish' only after the last command's
 * handler called back; for DATA that is after the reply to the "."):
 * - the FIN came in the middle of a message: the "." can never come, so the connection is reset as
 *   if the client had vanished (smtp-server then destroys the message stream and the transaction
 *   resets the MX connection before its end of data: the MX takes no partial message);
 * - else every reply has been written: the relay ends its side too (a QUIT already did).
 */
function clientFinished(connection) {
  const message = connection._dataStream;
  if (message && !message.writableEnded) connection._socket.destroy();
  else connection.close();
}

class RelayConnection extends SMTPConnection {
  // Also called again for the TLS session after STARTTLS.
  _createParser() {
    const parser = super._createParser();
    parser.once('finish', () => clientFinished(this));
    return parser;
  }

  // smtp-server writes a reply only while the socket's readyState is 'open'; after the client's FIN
  // it is 'writeOnly', and the replies to what the client sent before it must still go out. So the
  // reply is written through smtp-server's own send() with the state it expects for that call.
  send(code, data, context) {
    const socket = this._socket;
    if (this._upgrading || socket?.readyState !== 'writeOnly') return super.send(code, data, context);
    Object.defineProperty(socket, 'readyState', { value: 'open', configurable: true });
    try {
      return super.send(code, data, context);
    } finally {
      delete socket.readyState;
    }
  }
}

class RelaySmtpServer extends SMTPServer {
  constructor(options, track, onClientEnd) {
    super(options);
    this.track = track;
    this.onClientEnd = onClientEnd;
  }

  // smtp-server's own connect(), with the half-close handling and the reply filter above put on
  // each connection before it says anything.
  connect(socket, socketOptions) {
    const connection = new RelayConnection(this, socket, socketOptions);
    keepEnhancedCodes(connection);
    this.connections.add(connection);
    this.track(connection, socket);
    // The client's FIN: no message that is not complete yet can be delivered in this session any
    // more (nothing can follow the FIN), so a transaction still waiting downstream (the MX being
    // dialled, a RCPT) is aborted at once; a complete message goes on to the MX's reply.
    socket.once('end', () => this.onClientEnd?.(connection));
    connection.on('error', (err) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }
}

/** The core's reply (src/relay.rs Notice) as smtp-server's error. */
function notice(kind, detail = '') {
  const r = relayNotice(kind, detail);
  return { responseCode: r.code, message: `${r.enhanced} ${r.text}` };
}

/** $XDG_CACHE_HOME/mtasts, or ~/.cache/mtasts (the default store, shared with `mtasts check`). */
export function defaultStoreDir(env = process.env) {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'mtasts');
}

/**
 * The policy store, the TLS-RPT log (tlsrpt-log.js) and the delivery journal's directory next to it.
 * `redis://…`/`rediss://…` (js/stores/redis.js): policies and TLS-RPT counters in Redis, shared by
 * the fleet; the local layer and the journal in `?local=DIR` (default: the default store directory,
 * so that the journal survives a restart), or in memory with `?local=memory`. The journal is never
 * shared: it answers "was this message already delivered by *this* relay".
 */
function makeStores(spec, env, { log, metrics, keepDays } = {}) {
  if (spec === 'memory') return { store: memoryStore(), tlsrpt: memoryTlsrptLog(), journalDir: null, ledgerDir: null, where: 'memory' };
  if (isRedisSpec(spec)) {
    let connection;
    try {
      connection = redisConnection(spec, { log });
    } catch (err) {
      throw new MtaStsError('config-invalid', `store ${err.message}`);
    }
    const dir = connection.local === 'memory' ? null : (connection.local ?? defaultStoreDir(env));
    const store = redisStore(null, { connection, local: dir ? fileStore(dir) : memoryStore(), log });
    const tlsrpt = redisTlsrptLog(null, { connection, log, keepDays, spoolDir: dir ? join(dir, 'tlsrpt-redis-spool') : undefined });
    if (metrics) registerRedisMetrics(metrics.registry, { connection, store, tlsrpt });
    const close = async () => {
      await Promise.all([store.close(), tlsrpt.close()]);
      await connection.close();
    };
    return { store, tlsrpt, journalDir: dir ? join(dir, 'journal') : null, ledgerDir: dir ? join(dir, 'tlsrpt-sent') : null, where: `${connection.where} (local: ${dir ?? 'memory'})`, close };
  }
  const dir = spec ? spec.slice('file:'.length) : defaultStoreDir(env);
  return { store: fileStore(dir), tlsrpt: fileTlsrptLog(join(dir, 'tlsrpt')), journalDir: join(dir, 'journal'), ledgerDir: join(dir, 'tlsrpt-sent'), where: dir };
}

/** The sender's settings with its files read (config-invalid when one cannot be), and its DNS host. */
function tlsrptSenderParts(config, ca) {
  const s = config.tlsrptSend;
  const auth = s.smtpUser === null ? null : { user: s.smtpUser, pass: readPem(s.smtpPassFile, 'tlsrpt smtp password file').split(/\r?\n/)[0] };
  const dkim = s.dkim === null ? null : dkimOptions({ privateKey: readPem(s.dkim.key, 'tlsrpt dkim key'), selector: s.dkim.selector, domain: s.dkim.domain });
  return { send: { ...s, auth, dkim }, dns: createDnsHost({ servers: config.dnsServers }), ca };
}

function readPem(file, what) {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new MtaStsError('config-invalid', `cannot read ${what} ${file}: ${err.code ?? err.message}`);
  }
}

/**
 * Starts the relay (config from config.js's resolveConfig).
 * @param {object} config
 * @param {object} [deps] for tests and embedding: logger, connectMx, clock (ms), random (the TLS-RPT send delay), env,
 *   afterDelivered (called right after a delivery is journaled, before the 250 goes upstream)
 */
export async function startRelay(config, deps = {}) {
  const env = deps.env ?? process.env;
  const log = deps.logger ?? createLogger({ level: config.logLevel, file: config.logFile ?? undefined });
  const clock = deps.clock ?? Date.now;
  const metrics = createRelayMetrics();
  const allow = createAllowList(config.allow);
  const users = config.users ? loadUsers(config.users) : null;
  const tls = config.tlsCert ? { cert: readPem(config.tlsCert, 'tls certificate'), key: readPem(config.tlsKey, 'tls key') } : null;
  const ca = config.caFile ? readPem(config.caFile, 'ca file') : undefined;
  const senderParts = config.tlsrptSend ? tlsrptSenderParts(config, ca) : null;
  const { store, tlsrpt, journalDir, ledgerDir, where, close: closeStores } = makeStores(config.store, env, { log, metrics, keepDays: config.tlsrptKeepDays ?? DEFAULT_KEEP_DAYS });
  if (senderParts && ledgerDir === null) {
    await closeStores?.();
    throw new MtaStsError('config-invalid', 'tlsrpt-send needs a directory for its send ledger: a file store (file:DIR) or redis://...?local=DIR');
  }
  const journal = await openDeliveryJournal({ dir: journalDir, days: config.journalDays, clock });
  if (journal.stats.pendingOnly > 0) {
    // The relay stopped between a "." and the MX's reply: those messages go to the MX again.
    log.info({ event: 'journal-pending', pendingOnly: journal.stats.pendingOnly, journal: journalDir });
  }

  // TLS-RPT records older than the kept days go, at start and then daily (tlsrpt-log.js).
  // (config.js has no keep-days setting yet: DEFAULT_KEEP_DAYS unless an embedder sets one.)
  const keepDays = config.tlsrptKeepDays ?? DEFAULT_KEEP_DAYS; // --tlsrpt-keep-days
  const pruneRecords = async () => {
    try {
      const removed = await pruneTlsrptLog(tlsrpt, { now: clock(), keepDays });
      if (removed.length > 0) log.info({ event: 'tlsrpt-pruned', days: removed, keepDays });
    } catch (err) {
      log.error({ event: 'tlsrpt-prune-failed', err: err.message });
    }
  };
  await pruneRecords();

  const hostOptions = { dnsServers: config.dnsServers, ca, policyPort: config.policyPort };
  const resolver = deps.resolver ?? createPolicyResolver({ ...hostOptions, store, now: clock });
  const dial = deps.connectMx ?? connectMx;
  const relay = {
    heloName: config.helo,
    traceHeaderName: config.traceHeader,
    timeouts: { command: config.timeouts.command, dataEnd: config.timeouts.dataEnd },
    maxSize: config.maxSize,
    log,
    metrics,
    tlsrpt,
    clock,
    seenPolicies: new WeakSet(),
    journal,
    inFlight: new Set(),
    afterDelivered: deps.afterDelivered,
    pool: createDownstreamPool({ idleMs: config.reuseIdle, currentPolicy: (domain) => resolver.resolve(domain) }),
    // `signal`: the transaction's; aborting it (the local MTA left, shutdown) stops the dialling.
    connectMx: (domain, signal) =>
      dial(domain, {
        heloName: config.helo,
        resolver,
        ...hostOptions,
        smtpPort: config.smtpPort,
        allowPrivate: config.allowPrivate === true,
        now: clock,
        signal,
        timeouts: { connect: config.timeouts.connect, reply: config.timeouts.reply, tls: config.timeouts.tls },
        limits: { maxAddresses: config.mxAddressLimit, maxSessions: config.mxSessionLimit, deadline: config.timeouts.delivery },
      }),
  };

  const transactions = new Map(); // session id → Transaction
  const connections = new Set();
  let draining = false;

  const clientEnded = (connection) => {
    const tx = transactions.get(connection.session?.id);
    if (tx && !tx.inData) tx.abort();
  };

  const track = (connection, socket) => {
    connections.add(connection);
    metrics.sessions.inc();
    socket.once('close', () => {
      connections.delete(connection);
      metrics.sessions.dec();
    });
  };

  const options = {
    name: config.helo,
    banner: 'mtasts relay',
    size: config.maxSize,
    // What Postfix's smtp client uses (RFC 1870, 6152, 6531, 2920, 2034).
    hideSize: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hidePIPELINING: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    disabledCommands: [...(tls ? [] : ['STARTTLS']), ...(users ? [] : ['AUTH'])],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !users,
    // Checked in onAuth instead: over TLS, or from loopback.
    allowInsecureAuth: true,
    ...(tls ?? {}),
    disableReverseLookup: true,
    // net.createServer: a client's FIN ends only its side (clientFinished above).
    allowHalfOpen: true,
    maxClients: config.maxClients,
    logger: false,

    onConnect(session, callback) {
      if (draining) return callback(notice('shutting-down'));
      if (!allow.allows(session.remoteAddress)) {
        log.warn({ event: 'client-refused', client: session.remoteAddress });
        return callback(notice('not-allowed', session.remoteAddress));
      }
      callback();
    },

    onAuth(auth, session, callback) {
      if (!users) return callback(notice('auth-disabled'));
      // Spec: a password travels only over TLS or within this machine.
      if (!session.secure && !isLoopback(session.remoteAddress)) {
        return callback(notice('auth-needs-tls'));
      }
      checkPassword(users, auth.username ?? '', auth.password ?? '').then(
        (ok) => {
          if (ok) return callback(null, { user: auth.username });
          log.warn({ event: 'auth-failed', client: session.remoteAddress, user: auth.username });
          callback(notice('auth-failed'));
        },
        (err) => callback(notice('auth-temporary', err.message)),
      );
    },

    onMailFrom(address, session, callback) {
      if (draining) return callback(notice('shutting-down'));
      transactions.get(session.id)?.abort();
      transactions.set(session.id, new Transaction(relay, session, address));
      callback();
    },

    onRcptTo(address, session, callback) {
      const tx = transactions.get(session.id);
      if (!tx) return callback(notice('need-mail'));
      tx.rcpt(address).then(
        (refusal) => callback(refusal ?? undefined),
        (err) => {
          log.error({ event: 'internal-error', where: 'rcpt', err: err.message, stack: err.stack });
          callback(notice('internal-error'));
        },
      );
    },

    onData(stream, session, callback) {
      const tx = transactions.get(session.id);
      const done = (error, message) => {
        transactions.delete(session.id);
        callback(error ?? null, message);
      };
      if (!tx) {
        stream.resume();
        return done(notice('need-mail'));
      }
      tx.data(stream).then(
        ({ error, message }) => done(error, message),
        (err) => {
          log.error({ event: 'internal-error', where: 'data', err: err.message, stack: err.stack });
          tx.abort();
          stream.resume();
          done(notice('internal-error'));
        },
      );
    },

    onClose(session) {
      transactions.get(session.id)?.abort();
      transactions.delete(session.id);
    },
  };

  const servers = [];
  try {
    for (const { host, port } of config.listen) {
      const server = new RelaySmtpServer({ ...options }, track, clientEnded);
      server.on('error', (err) => log.error({ event: 'smtp-error', err: err.message, code: err.code }));
      await new Promise((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(port, host, () => {
          server.server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.server.close();
    await journal.close();
    throw new MtaStsError('listen-failed', `cannot listen on ${err.address ?? '?'}:${err.port ?? '?'}: ${err.code ?? err.message}`, { cause: err });
  }
  let metricsServer = null;
  if (config.metrics) {
    try {
      metricsServer = await serveMetrics(metrics, config.metrics);
    } catch (err) {
      for (const s of servers) s.server.close();
      await journal.close();
      throw new MtaStsError('listen-failed', `cannot serve metrics on ${config.metrics.host}:${config.metrics.port}: ${err.code ?? err.message}`, { cause: err });
    }
  }
  const refresh = startRefresh(resolver, { interval: config.refreshInterval, log, metrics });
  const sender = senderParts ? startTlsrptSender({ ...senderParts, tlsrpt, ledgerDir, keepDays, clock, log, metrics, random: deps.random }) : null;
  const pruneTimer = setInterval(pruneRecords, 86_400_000);
  pruneTimer.unref();

  const addresses = servers.map((s) => {
    const a = s.server.address();
    return { host: a.address, port: a.port };
  });
  const metricsAddress = metricsServer ? { host: metricsServer.address().address, port: metricsServer.address().port } : null;
  log.info({ event: 'listening', addresses, metrics: metricsAddress, store: where, journal: { dir: journalDir, days: config.journalDays, delivered: journal.stats.delivered }, helo: config.helo, allow: config.allow, auth: Boolean(users) });

  /** A connection in a transaction: MAIL accepted, or its message being delivered. */
  const busy = (c) => Boolean(c.session?.envelope?.mailFrom) || Boolean(transactions.get(c.session?.id)?.inData);

  let closing = null;
  /**
   * Graceful shutdown: no new connections; sessions between transactions get 421 4.3.2 at once,
   * transactions in flight finish first (at most `shutdownTimeout`, then they are cut: their
   * messages stay queued upstream, none is half delivered).
   */
  function close() {
    closing ??= (async () => {
      draining = true;
      log.info({ event: 'shutting-down', sessions: connections.size });
      for (const s of servers) s.server.close();
      const told = new WeakSet();
      const shuttingDown = notice('shutting-down').message;
      const deadline = Date.now() + config.shutdownTimeout;
      for (;;) {
        for (const c of connections) {
          if (!told.has(c) && !busy(c)) {
            told.add(c);
            c.send(421, shuttingDown);
          }
        }
        if (connections.size === 0) break;
        if (Date.now() >= deadline) {
          for (const c of connections) {
            transactions.get(c.session?.id)?.abort();
            if (!told.has(c)) c.send(421, shuttingDown);
            c._socket?.destroy?.();
          }
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      relay.pool.close();
      await journal.close();
      await refresh.stop();
      await sender?.stop();
      clearInterval(pruneTimer);
      await closeStores?.();
      if (metricsServer) {
        metricsServer.closeAllConnections?.();
        await new Promise((r) => metricsServer.close(r));
      }
      log.info({ event: 'stopped' });
      if (!deps.logger) await log.close();
    })();
    return closing;
  }

  return { addresses, metricsAddress, metrics, resolver, store, tlsrpt, refresh, sender, close, get sessions() { return connections.size; } };
}
