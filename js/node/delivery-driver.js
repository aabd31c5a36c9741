// The Node host's driver of the core's Delivery machine (src/delivery/machine.rs): it performs each
// step the machine asks for — DNS through the one injected resolver, TCP, Node's TLS — keeps the
// timers the machine sets, and hands every answer back as typed values and bytes. It decides
// nothing: connectMx (a delivery) and probeMx (`mtasts check`) both run their machine through it.

import { MtaStsError } from '../core.js';
import { hasSignatureHost } from '../host-crypto.js';
import { discard, peerChain, upgradeToTls } from './starttls.js';
import { connectTcp, connectThrough } from './tcp-connect.js';

export function abortedError(signal) {
  const err = new MtaStsError('aborted', `the delivery was aborted${signal.reason?.message ? `: ${signal.reason.message}` : ''}`);
  err.temporary = true;
  return err;
}

/** The DNS host's "no record" split into the core's answers: NXDOMAIN is not NODATA. */
const noneKind = (answer) => (answer.kind !== 'none' ? 'temporary' : answer.detail === 'ENOTFOUND' ? 'nxdomain' : 'nodata');

/**
 * Reads the socket for one Read step: resolves with { data } | { closed } | { timeout } | { aborted }
 * and leaves no listener or timer behind; the socket is paused again.
 */
function readOnce(socket, ms, signal) {
  return new Promise((resolve) => {
    const done = (result) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.off('error', onClosed);
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      resolve(result);
    };
    const onData = (data) => done({ data });
    const onClosed = () => done({ closed: true });
    const onAbort = () => done({ aborted: true });
    const timer = setTimeout(() => done({ timeout: true }), ms);
    if (socket.destroyed || socket.readableEnded) return done({ closed: true });
    socket.on('data', onData);
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('error', onClosed);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.resume();
  });
}

/** Races `promise` against the signal; on abort resolves { aborted: true }. */
function unlessAborted(promise, signal, late = () => {}) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      resolve({ aborted: true });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        // A socket that comes after the abort has nobody to close it but this.
        if (aborted) late(v);
        else resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Runs `d` until it is ready, done or (a probe) probed. Resolves { step, plain, secure }: for
 * 'ready' the sockets of the connection to deliver over (paused; `secure` after STARTTLS), else
 * both null and every socket closed. Rejects `aborted` when `signal` fires (the socket closed).
 * @param {object} d the core's Delivery
 * @param {object} host
 * @param {{ resolveMx(name): Promise<object>, resolveAddresses(name): Promise<object> }} host.dns
 * @param {() => number} host.clock milliseconds
 * @param {AbortSignal} [host.signal]
 * @param {object} host.store the TrustStore for the §4.2 check
 * @param {(address: string, chain: Buffer[]) => void} [host.onTls] sees each chain (display only)
 * @param {(target: object) => import('node:net').Socket | Promise<import('node:net').Socket>} [host.connectHook]
 *   opens the TCP connection instead of node:net (a SOCKS client, a proxy): it gets
 *   { host, address, port, localAddress, timeout, signal }
 * @param {(attempt: object) => void} [host.onAttempt] hears each attempt as the core records it;
 *   what it throws ends the delivery with that error (the connection closed)
 */
export async function driveDelivery(d, { dns, clock, signal, store, onTls, connectHook, onAttempt }) {
  let plain = null; // the TCP socket of the current attempt
  let secure = null; // its TLS socket after STARTTLS
  let address = null;
  const close = () => {
    discard(secure);
    discard(plain);
    secure = null;
    plain = null;
  };
  let reported = 0;
  // Each attempt the core recorded since the last step, in order, as it ends.
  const report = () => {
    if (!onAttempt) return;
    while (reported < d.attemptCount) onAttempt(d.attemptAt(reported++));
  };
  try {
    for (;;) {
      if (signal?.aborted) throw abortedError(signal);
      const step = d.poll(clock());
      report();
      switch (step.step) {
        case 'resolve-mx': {
          const mx = await unlessAborted(dns.resolveMx(step.name), signal);
          if (mx.aborted) throw abortedError(signal);
          if (mx.ok) d.onMx(mx.records.map((r) => String(r.exchange)), mx.records.map((r) => r.priority));
          else d.onMxFailed(noneKind(mx), mx.detail ?? '');
          break;
        }
        case 'resolve-addresses': {
          const a = await unlessAborted(dns.resolveAddresses(step.host), signal);
          if (a.aborted) throw abortedError(signal);
          if (a.ok) d.onAddresses(a.addresses.map((x) => x.address));
          else d.onAddressesFailed(noneKind(a), a.detail ?? '');
          break;
        }
        case 'connect': {
          address = step.address;
          const target = { host: step.host, address: step.address, port: step.port, localAddress: step.localAddress ?? undefined, timeout: step.timeoutMs };
          const dialled = connectHook ? connectThrough(connectHook, { ...target, signal }) : connectTcp(target);
          const connected = await unlessAborted(dialled, signal, (r) => discard(r.socket));
          if (connected.aborted) throw abortedError(signal);
          if (connected.socket) {
            plain = connected.socket;
            plain.pause();
            // RFC 8460 §4.4 sending-mta-ip: our end of the connection, for the attempt's record.
            // Spec: through a connect hook our end is the proxy's far side, unknown here: none.
            d.onConnected(connectHook ? null : (plain.localAddress ?? null));
          } else if (connected.error.code === 'mx-timeout') d.onTimeout();
          else d.onConnectFailed(connected.error.detail ?? connected.error.message);
          break;
        }
        case 'send':
          (secure ?? plain).write(step.data);
          break;
        case 'read': {
          const r = await readOnce(secure ?? plain, step.timeoutMs, signal);
          if (r.aborted) throw abortedError(signal);
          if (r.data) d.onData(r.data);
          else if (r.closed) d.onClose();
          else d.onTimeout();
          break;
        }
        case 'starttls': {
          const upgraded = await unlessAborted(upgradeToTls(plain, step.serverName, step.timeoutMs), signal, (r) => r.ok && discard(r.socket));
          if (upgraded.aborted) throw abortedError(signal);
          if (!upgraded.ok) {
            plain = null; // upgradeToTls destroyed both sockets
            d.onTlsFailed(upgraded.detail);
            break;
          }
          secure = upgraded.socket;
          secure.pause();
          const chain = peerChain(secure);
          onTls?.(address, chain);
          // RFC 8461 §4.2: the core judges the chain for the MX host actually dialled, before any
          // mail command is sent or the stream is handed out.
          d.onTls(chain, store, hasSignatureHost(), secure.getProtocol() ?? '', secure.getCipher()?.name ?? null);
          break;
        }
        case 'close':
          close();
          break;
        case 'ready':
          return { step, plain, secure };
        case 'done':
        case 'probed':
          close();
          return { step, plain: null, secure: null };
        default:
          throw new MtaStsError('internal-error', `unknown delivery step ${step.step}`);
      }
    }
  } catch (err) {
    close();
    throw err;
  }
}
