// The Node host's HTTPS GET of an MTA-STS policy (RFC 8461 §3.3). It performs one request and reports
// what happened as data: status, content type, Location and body bytes, or a classified failure. It
// does not judge the answer: the core applies the fetch rules (200 only, text/plain, no redirect) and
// parses the policy.
//
// Options that point at test infrastructure (`ca`, `policyPort`) are off by default.

import https from 'node:https';
import tls from 'node:tls';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';

const VERSION = packageVersion();

/** The `version` of the package this file ships in (pkg/), or of pkg-template/ in the source tree. */
function packageVersion() {
  for (const rel of ['../../package.json', '../../pkg-template/package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
      if (pkg.name === 'mtasts' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return '0.0.0';
}

/**
 * The trust anchors for the policy host when extra CAs are configured: the system roots, then the
 * extra ones. RFC 8461 §3.3: the certificate must chain to a root the sender trusts; extra CAs are
 * added to those roots, never put in their place.
 *
 * Spec: "system roots" are Node's default store — its bundled roots plus the file named by
 * NODE_EXTRA_CA_CERTS, which Node would lose as soon as an explicit `ca` is passed, so it is read here.
 * @param {string | Buffer | Array<string | Buffer>} [ca]
 * @returns {Array<string | Buffer> | undefined} undefined means "Node's default store"
 */
export function policyTrustAnchors(ca) {
  if (ca === undefined || ca === null || (Array.isArray(ca) && ca.length === 0)) return undefined;
  const anchors = [...tls.rootCertificates];
  const envFile = process.env.NODE_EXTRA_CA_CERTS;
  if (envFile) {
    try {
      anchors.push(readFileSync(envFile, 'utf8'));
    } catch {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so do we (silently).
    }
  }
  anchors.push(...(Array.isArray(ca) ? ca : [ca]));
  return anchors;
}

// Node's names for certificate verification failures (OpenSSL X509_V_ERR_* without the prefix, and
// the host-name check), with OpenSSL's text for each (what Node's own error would say). These map
// to TLS-RPT `sts-webpki-invalid` (RFC 8460 §4.3.2.1).
const CERTIFICATE_CODES = new Map([
  ['UNABLE_TO_GET_ISSUER_CERT', 'unable to get issuer certificate'],
  ['UNABLE_TO_GET_CRL', 'unable to get certificate CRL'],
  ['UNABLE_TO_DECRYPT_CERT_SIGNATURE', "unable to decrypt certificate's signature"],
  ['UNABLE_TO_DECRYPT_CRL_SIGNATURE', "unable to decrypt CRL's signature"],
  ['UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'unable to decode issuer public key'],
  ['CERT_SIGNATURE_FAILURE', 'certificate signature failure'],
  ['CRL_SIGNATURE_FAILURE', 'CRL signature failure'],
  ['CERT_NOT_YET_VALID', 'certificate is not yet valid'],
  ['CERT_HAS_EXPIRED', 'certificate has expired'],
  ['CRL_NOT_YET_VALID', 'CRL is not yet valid'],
  ['CRL_HAS_EXPIRED', 'CRL has expired'],
  ['ERROR_IN_CERT_NOT_BEFORE_FIELD', "format error in certificate's notBefore field"],
  ['ERROR_IN_CERT_NOT_AFTER_FIELD', "format error in certificate's notAfter field"],
  ['ERROR_IN_CRL_LAST_UPDATE_FIELD', "format error in CRL's lastUpdate field"],
  ['ERROR_IN_CRL_NEXT_UPDATE_FIELD', "format error in CRL's nextUpdate field"],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
  ['CERT_CHAIN_TOO_LONG', 'certificate chain too long'],
  ['CERT_REVOKED', 'certificate revoked'],
  ['INVALID_CA', 'invalid CA certificate'],
  ['PATH_LENGTH_EXCEEDED', 'path length constraint exceeded'],
  ['INVALID_PURPOSE', 'unsupported certificate purpose'],
  ['CERT_UNTRUSTED', 'certificate not trusted'],
  ['CERT_REJECTED', 'certificate rejected'],
  ['HOSTNAME_MISMATCH', 'hostname mismatch'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', "the certificate's names do not include the host name"],
]);

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'EPIPE',
  'ETIMEDOUT',
]);

/**
 * Classify an error of `https.request` into one of the host's failure kinds.
 * @returns {'certificate' | 'tls' | 'connect' | 'dns' | 'protocol'}
 */
export function classifyFetchError(err) {
  // Happy eyeballs (autoSelectFamily) reports every failed address in one AggregateError.
  const first = err?.code ? err : err?.errors?.[0] ?? err;
  const code = typeof first?.code === 'string' ? first.code : '';
  const syscall = typeof first?.syscall === 'string' ? first.syscall : '';
  // A failure of the injected lookup (ours says queryA/queryAaaa, Node's own says getaddrinfo).
  if (first?.dnsKind || /^(getaddrinfo|query)/.test(syscall)) return 'dns';
  if (first?.untrusted || CERTIFICATE_CODES.has(code)) return 'certificate';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') return 'tls';
  if (CONNECT_CODES.has(code)) return 'connect';
  return 'protocol';
}

/**
 * @param {object} [options]
 * @param {Function} [options.lookup] a `dns.lookup`-shaped function (the DNS host's `lookup`); the
 *   policy host name is resolved through it. Default: Node's `dns.lookup`.
 * @param {string | Buffer | Array<string | Buffer>} [options.ca] extra trust anchors, added to the
 *   system roots (test infrastructure or a private CA)
 * @param {number} [options.policyPort] connect to this port instead of 443 (test infrastructure only;
 *   RFC 8461 §3.3 fixes the URL, hence port 443, so leave it unset in production)
 * @param {number} [options.timeout] overall limit in ms for connect, TLS, headers and body (60000)
 * @param {number} [options.maxBytes] largest body accepted (65536)
 * @param {string} [options.userAgent] default `mtasts/<version>`
 */
export function createHttpsHost({ lookup, ca, policyPort, timeout = 60000, maxBytes = 65536, userAgent } = {}) {
  // RFC 8461 §3.3: the certificate must chain to a trusted root (system roots plus the extra CAs)
  // and MTA-STS needs TLS 1.2 or later (RFC 8461 §7.2). Built once, shared by every request.
  const secureContext = tls.createSecureContext({ ca: policyTrustAnchors(ca), minVersion: 'TLSv1.2' });
  const agentHeader = userAgent ?? `mtasts/${VERSION}`;

  /**
   * GET the policy at `url` (always `https://mta-sts.<domain>/.well-known/mta-sts.txt`).
   * @param {string} url
   * @returns {Promise<{ ok: true, status: number, contentType: string | null, location: string | null,
   *   body: Uint8Array } | { ok: false, kind: string, detail: string, message: string }>} a kind
   *   `truncated` failure also carries `received` (bytes that came) and `expected` (the
   *   Content-Length, or null when none was declared). Either carries `localAddress`, the local
   *   IP of the connection, once one was made (RFC 8460 §4.4 sending-mta-ip), and `certificate`
   *   once a TLS handshake completed: `{ chain: Uint8Array[] (DER, leaf first, as the host sent it
   *   and Node completed it), trusted: boolean }` (trusted: Node's RFC 8461 §3.3 verdict for the
   *   host name; an untrusted chain is also the failure `certificate`). For display: `check` and
   *   the checker page show the policy host's certificate.
   */
  function get(url) {
    let target;
    try {
      target = new URL(url);
    } catch {
      return Promise.resolve(failure('protocol', 'ERR_INVALID_URL', `not a url: ${JSON.stringify(String(url))}`));
    }
    if (target.protocol !== 'https:') {
      // RFC 8461 §3.3: the policy is fetched over HTTPS only.
      return Promise.resolve(failure('protocol', 'ERR_NOT_HTTPS', `policy url must be https, found ${target.protocol}`));
    }
    const hostname = target.hostname;

    return new Promise((resolve) => {
      let settled = false;
      let timer;
      let req;
      let localAddress = null;
      let certificate = null; // the peer's chain and Node's verdict on it, once the handshake is done
      let identityError;
      // The detailed peer certificate Node built for its own host-name check (below): reused for
      // the chain, since building it is the dearest step of a handshake's JS side (measured on
      // Node 20: about 0.45 ms a call, a tenth of a whole cold socketmap lookup's CPU).
      let checkedCertificate = null;
      const finish = (result) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // RFC 8460 §4.4 sending-mta-ip of a policy fetch failure: the local end of the connection.
        if (localAddress !== null) result.localAddress = localAddress;
        if (certificate !== null) result.certificate = certificate;
        // Nothing stays open: with agent:false the socket belongs to this request alone.
        if (req) req.destroy();
        resolve(result);
      };

      req = https.request({
        host: hostname,
        port: policyPort ?? (target.port ? Number(target.port) : 443),
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        lookup,
        // RFC 8461 §3.3: the certificate must be valid for the host of the URL, mta-sts.<domain>:
        // SNI carries that name and Node's check (checkServerIdentity) matches it.
        servername: isIP(hostname) ? undefined : hostname,
        secureContext,
        // Node's trust decision (chain to a trusted root, checkServerIdentity) is acted on at
        // 'secureConnect' below, before a byte of the request is sent, so that the chain of a host
        // that fails it can still be shown.
        rejectUnauthorized: false,
        checkServerIdentity: (name, cert) => {
          checkedCertificate = cert;
          return (identityError = tls.checkServerIdentity(name, cert));
        },
        minVersion: 'TLSv1.2',
        // RFC 8461 §3.3: HTTP caching MUST NOT be used. No keep-alive pool and no stored response:
        // every fetch is a new connection and a new request.
        agent: false,
        headers: {
          'User-Agent': agentHeader,
          Accept: 'text/plain',
          // Spec: also ask any intermediary not to answer from a cache.
          'Cache-Control': 'no-cache',
          Connection: 'close',
        },
      });

      req.on('socket', (socket) => {
        const note = () => {
          localAddress = socket.localAddress ?? localAddress;
        };
        if (socket.localAddress) note();
        else socket.once('connect', note);
        // RFC 8461 §3.3: the certificate must be valid for the host (Node checked both the chain and
        // the name); an untrusted one ends the fetch here, as rejectUnauthorized would.
        socket.once('secureConnect', () => {
          // Node checks the name (and builds that certificate) only when the chain verified; an
          // untrusted chain is read here, once.
          certificate = { chain: peerChain(checkedCertificate ?? socket.getPeerCertificate(true)), trusted: socket.authorized === true };
          if (certificate.trusted) return;
          const code = String(socket.authorizationError ?? 'CERT_UNTRUSTED');
          const message = identityError?.code === code ? identityError.message : CERTIFICATE_CODES.get(code) ?? code;
          socket.destroy(Object.assign(new Error(message), { code, untrusted: true }));
        });
      });

      // RFC 8461 §3.3: bound the time of the fetch. One timer covers connect, TLS, headers and the
      // whole body, so a server trickling bytes cannot hold the sender.
      timer = setTimeout(() => {
        finish(failure('timeout', 'ETIMEDOUT', `policy fetch from ${hostname} took longer than ${timeout} ms`));
      }, timeout);

      let bodyCutOff; // set while a 200 body is being read
      req.on('error', (err) => {
        // An HTTP parse error once the response began (bytes after a Content-Length body on a
        // "Connection: close" response, a broken chunk) is the server's broken HTTP, reported as
        // such, not as a body cut off: Node says HPE_* before it has even passed on the body.
        if (bodyCutOff && typeof err?.code === 'string' && err.code.startsWith('HPE_')) {
          return finish(failure('protocol', err.code, describe('protocol', hostname, err)));
        }
        // Node may report a connection lost mid-body on the request rather than the response.
        if (bodyCutOff) return bodyCutOff(err?.message ?? String(err));
        const kind = classifyFetchError(err);
        const first = err?.code ? err : err?.errors?.[0] ?? err;
        const detail = typeof first?.code === 'string' ? first.code : 'EUNKNOWN';
        finish(failure(kind, detail, describe(kind, hostname, first)));
      });

      req.on('response', (res) => {
        // Spec: never an answer from a connection whose certificate was not trusted (it is ended at
        // 'secureConnect'; this holds even if that listener were missed).
        if (certificate?.trusted !== true || res.socket?.authorized !== true) {
          finish(failure('certificate', 'CERT_UNTRUSTED', describe('certificate', hostname, { message: 'the certificate was not verified' })));
          return;
        }
        const status = res.statusCode;
        const contentType = res.headers['content-type'] ?? null;
        // RFC 8461 §3.3: 3xx redirects MUST NOT be followed. The status and Location are returned as
        // data for the core to report; no second request is made.
        const location = res.headers.location ?? null;
        const answer = (body) => finish({ ok: true, status, contentType, location, body });

        if (status !== 200) {
          // RFC 8461 §3.3: only a 200 carries a policy; the body of any other answer is not read.
          answer(new Uint8Array(0));
          return;
        }
        const tooLarge = () =>
          finish(failure('too-large', 'ERR_BODY_TOO_LARGE', `policy body from ${hostname} exceeds ${maxBytes} bytes`));
        // RFC 8461 §3.3: bound the size of the policy body. A declared length over the limit is
        // refused before reading; otherwise the stream is counted and cut at the limit.
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          tooLarge();
          return;
        }
        const chunks = [];
        let size = 0;
        // RFC 8461 §3.3 fetches the policy body whole: a body that the connection cut off (fewer
        // bytes than its Content-Length, a chunked body without its last chunk) is reported as
        // truncated, with what came and what was announced, not as a connect failure.
        const truncated = (why) => {
          const expected = Number.isFinite(declared) ? declared : null;
          const of = expected === null ? `${size} bytes, before the body's end` : `${size} of ${expected} bytes`;
          finish({
            ...failure('truncated', 'ERR_BODY_TRUNCATED', `policy body from ${hostname} was cut off after ${of}${why ? `: ${why}` : ''}`),
            received: size,
            expected,
          });
        };
        res.on('data', (chunk) => {
          size += chunk.length;
          if (size > maxBytes) {
            tooLarge();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const body = new Uint8Array(size);
          let at = 0;
          for (const c of chunks) {
            body.set(c, at);
            at += c.length;
          }
          answer(body);
        });
        bodyCutOff = truncated;
        res.on('error', (err) => truncated(err?.message ?? String(err)));
        // Node ends a response that lost its connection with 'close' and `complete` false, with
        // or without an 'error' first.
        res.on('close', () => {
          if (!res.complete) truncated('');
        });
      });

      req.end();
    });
  }

  return { get };
}

/** The peer's certificates as DER, leaf first (getPeerCertificate(true) links each to its issuer). */
function peerChain(detailed) {
  const chain = [];
  const seen = new Set();
  for (let c = detailed; c?.raw && !seen.has(c); c = c.issuerCertificate) {
    seen.add(c);
    chain.push(new Uint8Array(c.raw));
  }
  return chain;
}

function failure(kind, detail, message) {
  return { ok: false, kind, detail, message };
}

function describe(kind, hostname, err) {
  const why = err?.message ?? String(err);
  switch (kind) {
    case 'certificate':
      return `certificate of ${hostname} is not valid: ${why}`;
    case 'tls':
      return `tls handshake with ${hostname} failed: ${why}`;
    case 'connect':
      return `cannot connect to ${hostname}: ${why}`;
    case 'dns':
      return `cannot resolve ${hostname}: ${why}`;
    default:
      return `http exchange with ${hostname} failed: ${why}`;
  }
}
