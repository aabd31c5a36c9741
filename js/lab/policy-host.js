// The lab's HTTPS policy host: one `https` server on loopback standing in for every
// `mta-sts.<domain>` of the catalogue. TLS SNI picks the certificate, and SNI (or the Host header
// when a client sends no SNI) picks the scenario whose policy response is served.
//
// RFC 8461 §3.3: the policy lives at `https://mta-sts.<domain>/.well-known/mta-sts.txt`; every other
// path answers 404. The hostile behaviours (redirect, huge or trickling bodies, bad certificates) are
// described per scenario in scenarios.js.

import https from 'node:https';
import tls from 'node:tls';

export const POLICY_PATH = '/.well-known/mta-sts.txt';
const FILLER_LINE = 'x-filler: ' + 'f'.repeat(1013) + '\n'; // 1 KiB, an unknown key (RFC 8461 §3.2 ignores it)

/**
 * Starts the host. `policyFor(domain)` returns the scenario's current policy response (or null);
 * `contextFor(servername)` returns a tls.SecureContext (or null for unknown names); `onRequest(domain)`
 * counts requests. Returns { port, close() }.
 */
export async function startPolicyHost({ host, port, policyFor, contextFor, defaultCert, onRequest }) {
  const sockets = new Set();
  const timers = new Set();

  const server = https.createServer(
    {
      key: defaultCert.keyPem,
      cert: defaultCert.chainPem,
      minVersion: 'TLSv1.2',
      SNICallback: (servername, cb) => cb(null, contextFor(servername) ?? undefined),
    },
    (req, res) => serve(req, res),
  );
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => {}); // a client rejecting our certificate is an expected event

  function serve(req, res) {
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const servername = (req.socket.servername || hostHeader).toLowerCase();
    const domain = servername.startsWith('mta-sts.') ? servername.slice('mta-sts.'.length) : null;
    if (domain) onRequest(domain);
    const policy = domain ? policyFor(domain) : null;
    const path = (req.url ?? '').split('?')[0];
    if (!policy || path !== POLICY_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('no such policy in the lab\n');
    }
    const headers = { 'content-type': policy.contentType, 'cache-control': 'no-store' };
    if (policy.location) headers.location = policy.location;
    if (policy.stream) return stream(res, headers, policy);
    if (policy.trickle) return trickle(res, headers, policy);
    const body = Buffer.from(policy.body);
    res.writeHead(policy.status, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  // policy-too-large: the body, then 1 KiB filler lines up to totalBytes, written with backpressure so
  // a client that stops reading (or disconnects) stops the stream.
  function stream(res, headers, policy) {
    res.writeHead(policy.status, headers); // chunked: no length announced
    let sent = 0;
    const filler = Buffer.from(FILLER_LINE.repeat(64));
    const pump = () => {
      if (sent === 0) {
        res.write(policy.body);
        sent += Buffer.byteLength(policy.body);
      }
      while (sent < policy.stream.totalBytes && !res.destroyed) {
        sent += filler.length;
        if (!res.write(filler)) return res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  // policy-slow: the headers at once, then one byte of the body (padded with filler) per interval.
  function trickle(res, headers, policy) {
    res.writeHead(policy.status, headers);
    res.flushHeaders();
    const text = Buffer.from(policy.body + FILLER_LINE.repeat(Math.ceil(policy.trickle.totalBytes / FILLER_LINE.length)));
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || sent >= policy.trickle.totalBytes) {
        clearInterval(timer);
        timers.delete(timer);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(text.subarray(sent, sent + 1));
      sent += 1;
    }, policy.trickle.intervalMs);
    timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: server.address().port,
    async close() {
      for (const t of timers) clearInterval(t);
      timers.clear();
      const closed = new Promise((r) => server.close(r));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** A TLS context serving `cert` ({ keyPem, chainPem }). */
export const secureContext = (cert) => tls.createSecureContext({ key: cert.keyPem, cert: cert.chainPem, minVersion: 'TLSv1.2' });
