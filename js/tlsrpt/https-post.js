// RFC 8460 §5.4: a report submitted over HTTPS — one POST of the gzipped report to an `https:`
// rua, verified TLS, no redirect followed, one timer over the whole exchange. The outcome is
// classified (sent, temporary, permanent) for the ledger (ledger.js).

import https from 'node:https';
import { isIP } from 'node:net';
import { classifyFetchError } from '../node/https.js';

const MAX_ANSWER = 4096;

/**
 * RFC 8460 §5.4: one HTTP POST of the gzipped report, `Content-Type: application/tlsrpt+gzip`;
 * a 2xx is success. TLS is verified against the system roots plus --ca-file, the host name is
 * resolved through the injected DNS (js/node/dns.js lookup, as js/node/https.js does for policy
 * hosts), one timer bounds the whole exchange.
 * @returns {Promise<{ ok: true, detail } | { ok: false, temporary: boolean, code, detail }>}
 */
export function postReport(rua, gz, { lookup, secureContext, policyPort, timeout }) {
  let target;
  try {
    target = new URL(rua);
  } catch {
    return Promise.resolve({ ok: false, temporary: false, code: 'tlsrpt-send-uri-invalid', detail: `not a uri: ${JSON.stringify(rua)}` });
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    let settled = false;
    let req;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, temporary: true, code: 'tlsrpt-send-timeout', detail: `no answer from ${host} within ${timeout} ms` }), timeout);
    req = https.request({
      host,
      port: policyPort ?? (target.port ? Number(target.port) : 443),
      path: `${target.pathname}${target.search}`,
      method: 'POST',
      lookup,
      servername: isIP(host) ? undefined : host,
      secureContext,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      agent: false,
      headers: {
        // RFC 8460 §5.4: "application/tlsrpt+gzip" for the gzipped report.
        'Content-Type': 'application/tlsrpt+gzip',
        'Content-Length': gz.length,
        'User-Agent': 'mtasts',
        Connection: 'close',
      },
    });
    req.on('error', (err) => {
      const kind = classifyFetchError(err);
      const first = err?.code ? err : err?.errors?.[0] ?? err;
      const why = `${first?.code ?? 'EUNKNOWN'}: ${first?.message ?? String(err)}`;
      // Spec: a certificate the sender does not trust is not fixed by retrying tomorrow's run
      // alone, but it is a configuration the receiver can repair; like a connect failure it is
      // tried again (RFC 8460 §5.4 leaves retries to the sender).
      const code = { certificate: 'tlsrpt-send-certificate', tls: 'tlsrpt-send-tls', dns: 'tlsrpt-send-dns', connect: 'tlsrpt-send-connect' }[kind] ?? 'tlsrpt-send-http';
      finish({ ok: false, temporary: true, code, detail: `${kind === 'protocol' ? 'http exchange' : kind} with ${host} failed: ${why}` });
    });
    req.on('response', (res) => {
      const status = res.statusCode;
      // The answer's body is not needed; read a little so the server can finish, then close.
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > MAX_ANSWER) res.destroy();
      });
      if (status >= 200 && status < 300) return finish({ ok: true, detail: `http ${status}` });
      if (status >= 300 && status < 400) {
        // Spec: RFC 8460 §5.4 names no redirect; like the policy fetch (RFC 8461 §3.3) a redirect
        // is not followed, and the report is not posted to a URI the domain did not publish.
        return finish({ ok: false, temporary: false, code: 'tlsrpt-send-redirect', detail: `http ${status} redirect to ${JSON.stringify(res.headers.location ?? '')} not followed` });
      }
      // 5xx (and 429): the server's trouble, tried again; other 4xx: the report was refused.
      const temporary = status >= 500 || status === 429;
      finish({ ok: false, temporary, code: 'tlsrpt-send-http-status', detail: `http ${status}` });
    });
    req.end(gz);
  });
}
