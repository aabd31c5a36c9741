// The socketmap server: Postfix connects (TCP on IPv4/IPv6, or a unix socket), sends netstring
// requests `name key`, possibly several before reading (pipelined), and reads one reply per
// request, in order (socketmap_table(5)). The core frames and answers (js/socketmap/answers.js);
// this file moves bytes and keeps each connection within bounds:
//   - at most `maxPending` requests in flight per connection (reading pauses beyond that);
//   - a request begun and not finished within `requestTimeout` ms closes the connection (a slow
//     client that keeps sending is fine; a silent one in the middle of a netstring is not);
//   - an idle connection is closed after `idleTimeout` ms (Postfix reconnects when it needs to);
//   - a malformed netstring closes that connection only, after the replies already due are sent;
//   - at most `maxConnections` connections; more are closed at once.
// stop(): no new connections; requests already read are answered; then every connection is ended.

import net from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { NetstringDecoder } from '../core.js';
import { MtaStsError } from '../error.js';

const STOPPING = Symbol('stopping');
// NetstringDecoder.feed's answer (src/wasm/socketmap.rs): flags, then (start, end) pairs.
const HELD = 0xffffffff;
const FED_ERROR = 1;
const FED_IN_REQUEST = 2;

/**
 * @param {object} o
 * @param {Array<{ host, port } | { path, mode? }>} o.listen
 * @param {ReturnType<import('./answers.js').createAnswers>} o.answers
 * @param {object} o.log                    pino logger
 * @param {object} o.metrics                createSocketmapMetrics()
 * @param {number} [o.maxRequest]           bytes of one request (default: the core's 2048)
 * @param {number} [o.maxPending]           requests in flight per connection (default 64)
 * @param {number} [o.requestTimeout]       ms (default 10000)
 * @param {number} [o.idleTimeout]          ms (default 600000)
 * @param {number} [o.maxConnections]       (default 1000)
 * @param {number} [o.shutdownTimeout]      ms stop() waits for replies in flight (default 20000)
 * @returns {Promise<{ addresses: Array<{ host, port } | { path }>, connections: number, stop(): Promise<void> }>}
 */
export async function startSocketmapServer({ listen, answers, log, metrics, maxRequest, maxPending = 64, requestTimeout = 10_000, idleTimeout = 600_000, maxConnections = 1000, shutdownTimeout = 20_000 }) {
  const connections = new Set();
  const servers = [];
  let stopping = false;

  // Label children bound once: the hot path (a cached answer) then costs no label lookups.
  const hitCount = metrics.answerCache.labels('hit');
  const missCount = metrics.answerCache.labels('miss');
  const cachedSeconds = metrics.seconds.labels('yes');
  const madeSeconds = metrics.seconds.labels('no');
  const answered = new Map();
  const answeredAs = (cls) => {
    let c = answered.get(cls);
    if (c === undefined) answered.set(cls, (c = metrics.queries.labels(cls)));
    return c;
  };

  function onConnection(socket) {
    if (stopping || connections.size >= maxConnections) {
      log.warn({ event: 'socketmap-refused', reason: stopping ? 'stopping' : 'max-connections', remote: socket.remoteAddress ?? 'unix' });
      socket.destroy();
      return;
    }
    const conn = serve(socket);
    connections.add(conn);
    metrics.connections.inc();
    socket.once('close', () => {
      connections.delete(conn);
      metrics.connections.dec();
    });
  }

  /** One connection: requests in, replies out in the same order. */
  function serve(socket) {
    const decoder = new NetstringDecoder(maxRequest);
    const queue = []; // replies not yet written, in request order: { frame | null }
    let closing = false; // no more requests are read; end once the queue is written
    let requestTimer = null;
    let freed = false;
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeout, () => {
      log.debug({ event: 'socketmap-idle', remote: socket.remoteAddress ?? 'unix' });
      socket.end();
    });

    const flush = () => {
      let wrote = false;
      while (queue.length > 0 && queue[0].frame !== null) {
        const { frame } = queue.shift();
        if (!socket.destroyed) socket.write(frame);
        wrote = true;
      }
      if (wrote && socket.isPaused() && !closing && queue.length < maxPending) socket.resume();
      if (closing && queue.length === 0 && !socket.destroyed) socket.end();
    };

    const close = (why) => {
      if (closing) return;
      closing = true;
      clearTimeout(requestTimer);
      socket.pause();
      if (why) log.warn({ event: 'socketmap-protocol-error', code: why.code, message: why.message, remote: socket.remoteAddress ?? 'unix' });
      flush();
    };

    // `key`: the request's bytes as a latin1 string (the answer cache's key); `data`: the bytes.
    const onRequest = (key, data, started) => {
      const hit = answers.cached(key);
      if (hit !== undefined) {
        hitCount.inc();
        answeredAs(hit.answerClass).inc();
        if (queue.length === 0) socket.write(hit.frame);
        else queue.push({ frame: hit.frame });
        cachedSeconds.observe((performance.now() - started) / 1000);
        return;
      }
      missCount.inc();
      const slot = { frame: null };
      queue.push(slot);
      answers.answer(key, data).then(
        ({ frame, detail }) => {
          answeredAs(detail.answer.class).inc();
          madeSeconds.observe((performance.now() - started) / 1000);
          slot.frame = frame;
          flush();
        },
        (err) => {
          // A bug or a store that throws: this request cannot be answered; the connection is
          // closed (Postfix retries on a new one) rather than answered out of order.
          log.error({ event: 'socketmap-answer-failed', err: err?.message ?? String(err) });
          slot.frame = Buffer.alloc(0);
          close(null);
        },
      );
      if (queue.length >= maxPending) socket.pause();
    };

    socket.on('data', (chunk) => {
      if (closing) return;
      // One call into the core per read: where each complete request is (NetstringDecoder.feed).
      const started = performance.now();
      const fed = decoder.feed(chunk);
      const several = fed.length > 3;
      // Several requests in one chunk (pipelining): their replies leave in one write.
      if (several) socket.cork();
      try {
        for (let i = 1; i < fed.length && !closing; i += 2) {
          if (fed[i] === HELD) {
            const data = decoder.held(fed[i + 1]);
            onRequest(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1'), data, started);
          } else {
            onRequest(chunk.toString('latin1', fed[i], fed[i + 1]), chunk.subarray(fed[i], fed[i + 1]), started);
          }
        }
      } catch (err) {
        // A bug: this connection is closed after the replies already due, nothing else affected.
        log.error({ event: 'socketmap-answer-failed', err: err?.message ?? String(err) });
        close(null);
      } finally {
        if (several) socket.uncork();
      }
      if (fed[0] & FED_ERROR && !closing) {
        try {
          decoder.finish(); // throws the framing error met after the requests above
        } catch (err) {
          metrics.protocolErrors.inc({ code: err?.code ?? 'internal' });
          close(err);
        }
      }
      if (requestTimer !== null) {
        clearTimeout(requestTimer);
        requestTimer = null;
      }
      if (!closing && fed[0] & FED_IN_REQUEST) {
        requestTimer = setTimeout(() => {
          log.warn({ event: 'socketmap-request-timeout', remote: socket.remoteAddress ?? 'unix', ms: requestTimeout });
          socket.destroy();
        }, requestTimeout);
        requestTimer.unref();
      }
    });
    socket.on('end', () => {
      if (closing) return;
      try {
        decoder.finish();
      } catch (err) {
        metrics.protocolErrors.inc({ code: err?.code ?? 'internal' });
        log.warn({ event: 'socketmap-protocol-error', code: err.code, message: err.message, remote: socket.remoteAddress ?? 'unix' });
      }
      close(null);
    });
    socket.on('error', (err) => log.debug({ event: 'socketmap-socket-error', err: err.message }));
    socket.once('close', () => {
      clearTimeout(requestTimer);
      if (!freed) {
        freed = true;
        decoder.free();
      }
    });
    return {
      socket,
      [STOPPING]: () => close(null),
      idle: () => queue.length === 0,
    };
  }

  try {
    for (const l of listen) {
      // allowHalfOpen: a client that sends its requests and half-closes still gets every reply.
      const server = net.createServer({ allowHalfOpen: true }, onConnection);
      server.on('error', (err) => log.error({ event: 'socketmap-listen-error', err: err.message }));
      if (l.path !== undefined) {
        removeStaleSocket(l.path);
        await listenOn(server, { path: l.path });
        if (l.mode !== undefined && l.mode !== null) chmodSync(l.path, l.mode);
      } else {
        await listenOn(server, { host: l.host, port: l.port, ipv6Only: net.isIPv6(l.host) });
      }
      servers.push({ server, spec: l });
    }
  } catch (err) {
    await Promise.all(servers.map(({ server }) => new Promise((r) => server.close(r))));
    throw err;
  }

  const addresses = servers.map(({ server, spec }) => (spec.path !== undefined ? { path: spec.path } : { host: spec.host, port: server.address().port }));
  log.info({ event: 'socketmap-listening', addresses });

  let stopped = null;
  return {
    addresses,
    get connections() {
      return connections.size;
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        const closed = Promise.all(servers.map(({ server }) => new Promise((r) => server.close(r))));
        for (const c of connections) c[STOPPING]();
        const deadline = setTimeout(() => {
          for (const c of connections) c.socket.destroy();
        }, shutdownTimeout);
        deadline.unref();
        await Promise.all([...connections].map((c) => new Promise((r) => (c.socket.destroyed ? r() : c.socket.once('close', r)))));
        clearTimeout(deadline);
        await closed;
        for (const { spec } of servers) if (spec.path !== undefined) removeStaleSocket(spec.path);
        log.info({ event: 'socketmap-stopped' });
      })();
      return stopped;
    },
  };
}

function listenOn(server, options) {
  return new Promise((resolve, reject) => {
    const fail = (err) => {
      reject(new MtaStsError('listen-failed', `cannot listen on ${options.path ?? `${options.host}:${options.port}`}: ${err.code ?? err.message}`));
    };
    server.once('error', fail);
    server.listen(options, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/** A unix socket left by a previous run is removed; any other file at the path is an error. */
function removeStaleSocket(path) {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new MtaStsError('listen-failed', `cannot listen on ${path}: it exists and is not a socket`);
  }
  unlinkSync(path);
}
