// `mtasts serve`: the checker page and its narrow helpers on one HTTP listener.
//   GET  /                        the page (js/checker/index.html) and its files (static-files.js)
//   GET  /config.json             what the page needs to know: helpers on, DoH path
//   GET|POST /dns-query           DNS over HTTPS, RFC 8484 (doh.js)
//   GET  /api/policy?domain=D     the policy fetch helper (policy-helper.js)
//   GET  /api/probe?domain=D&host=H   the MX probe helper (probe-helper.js)
//   GET  /api/roots               the trust anchors the page judges MX chains with (the CLI's)
// Helpers answer raw facts; the page's core makes every verdict. Errors are JSON { code, message }.

import http from 'node:http';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ServeError } from './errors.js';
import { answerQuery, DNS_MESSAGE, MAX_QUERY_BYTES, queryFromParameter } from './doh.js';
import { createPolicyHelper } from './policy-helper.js';
import { createProbeHelper } from './probe-helper.js';
import { createRateLimiter, createConcurrencyCap } from './rate-limit.js';
import { contentSecurityPolicy, readStatic, staticFile } from './static-files.js';
import { domainParameter } from './target-guard.js';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Default limits; each can be given to startServer({ limits }). */
export const DEFAULT_LIMITS = Object.freeze({
  dnsPerClientPerMinute: 300,
  policyPerClientPerMinute: 30,
  probePerClientPerMinute: 30,
  policyPerDomainPerMinute: 20,
  probePerDomainPerMinute: 20,
  dnsInFlight: 64,
  policyInFlight: 16,
  probeInFlight: 8,
  requestTimeoutMs: 90_000,
});

function sendJson(res, status, value, headers = {}) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': body.length, ...headers });
  res.end(body);
}

function sendError(res, err) {
  const headers = err.extra?.retryAfter ? { 'retry-after': String(err.extra.retryAfter) } : {};
  // A body left unread is not drained: the connection ends with the answer.
  if (err.code === 'serve-request-too-large') headers.connection = 'close';
  sendJson(res, err.status, { code: err.code, message: err.message }, headers);
}

/** The request body, at most `limit` bytes (serve-request-too-large beyond). */
function readBody(req, limit) {
  // A declared length over the limit is refused before a byte is read.
  if (Number(req.headers['content-length']) > limit) return Promise.reject(new ServeError('serve-request-too-large', `a DNS query is at most ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new ServeError('serve-request-too-large', `a DNS query is at most ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * @param {object} options
 * @param {string} [options.host] listen address (default 127.0.0.1)
 * @param {number} [options.port] (default 8080; 0 for any)
 * @param {object} options.dns the Node DNS host
 * @param {object} [options.httpsOptions] createHttpsHost options (ca, policyPort, timeout)
 * @param {string} options.heloName
 * @param {number} [options.smtpPort] 25
 * @param {string[]} [options.roots] trust anchors (PEM) for the page (default: Node's roots)
 * @param {boolean} [options.allowPrivate]
 * @param {object} [options.limits] DEFAULT_LIMITS overrides
 * @param {() => number} [options.now] clock (ms) of the rate limits
 * @param {string} [options.root] package directory the page's files come from
 * @returns {Promise<{ url: string, port: number, close(): Promise<void> }>}
 */
export async function startServer({ host = '127.0.0.1', port = 8080, dns, httpsOptions = {}, heloName, smtpPort = 25, roots = [...tls.rootCertificates], allowPrivate = false, limits = {}, now = Date.now, root = PACKAGE_ROOT, probeTimeouts }) {
  const l = { ...DEFAULT_LIMITS, ...limits };
  const limiter = (perMinute) => createRateLimiter({ perMinute, now });
  const perClient = { dns: limiter(l.dnsPerClientPerMinute), policy: limiter(l.policyPerClientPerMinute), probe: limiter(l.probePerClientPerMinute) };
  const perDomain = { policy: limiter(l.policyPerDomainPerMinute), probe: limiter(l.probePerDomainPerMinute) };
  const caps = { dns: createConcurrencyCap(l.dnsInFlight, 'DNS queries'), policy: createConcurrencyCap(l.policyInFlight, 'policy fetches'), probe: createConcurrencyCap(l.probeInFlight, 'MX probes') };
  const fetchPolicy = createPolicyHelper({ dns, httpsOptions, allowPrivate });
  const probe = createProbeHelper({ dns, heloName, port: smtpPort, roots, allowPrivate, ...(probeTimeouts ? { timeouts: probeTimeouts } : {}) });
  const csp = contentSecurityPolicy();
  const pageHeaders = { 'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cross-origin-opener-policy': 'same-origin' };

  async function route(req, res) {
    const url = new URL(req.url, 'http://checker');
    const client = req.socket.remoteAddress ?? 'unknown';
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (url.pathname === '/dns-query') {
      if (!get && req.method !== 'POST') throw new ServeError('serve-method-not-allowed', 'DNS over HTTPS takes GET or POST (RFC 8484 §4.1)');
      perClient.dns.take(client, 'DNS queries from this client');
      let query;
      if (req.method === 'POST') {
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (type !== DNS_MESSAGE) throw new ServeError('serve-unsupported-media-type', `a POSTed query must be ${DNS_MESSAGE} (RFC 8484 §4.1), found ${JSON.stringify(type)}`);
        query = await readBody(req, MAX_QUERY_BYTES);
      } else query = queryFromParameter(url.searchParams.get('dns'));
      const { response } = await caps.dns.run(() => answerQuery(query, dns));
      res.writeHead(200, { 'content-type': DNS_MESSAGE, 'cache-control': 'max-age=0', 'content-length': response.length });
      return res.end(response);
    }
    if (!get) throw new ServeError('serve-method-not-allowed', `${req.method} is not served here`);
    if (url.pathname === '/api/policy') {
      const domain = domainParameter(url.searchParams.get('domain'));
      perClient.policy.take(client, 'policy fetches from this client');
      perDomain.policy.take(domain, `policy fetches for ${domain}`);
      return sendJson(res, 200, await caps.policy.run(() => fetchPolicy(domain)));
    }
    if (url.pathname === '/api/probe') {
      const domain = domainParameter(url.searchParams.get('domain'));
      const mxHost = domainParameter(url.searchParams.get('host'), 'host');
      perClient.probe.take(client, 'MX probes from this client');
      perDomain.probe.take(domain, `MX probes for ${domain}`);
      return sendJson(res, 200, await caps.probe.run(() => probe(domain, mxHost)));
    }
    if (url.pathname === '/api/roots') return sendJson(res, 200, { roots }, { 'cache-control': 'max-age=3600' });
    if (url.pathname === '/config.json' || url.pathname === '/js/checker/config.json') return sendJson(res, 200, { helpers: true, doh: '/dns-query' });
    if (url.pathname === '/') {
      res.writeHead(302, { location: '/js/checker/', 'content-length': 0 });
      return res.end();
    }
    const found = staticFile(root, url.pathname);
    const body = found && (await readStatic(found));
    if (!body) throw new ServeError('serve-not-found', `${url.pathname.slice(0, 100)} is not served here`);
    res.writeHead(200, { 'content-type': found.type, 'content-length': body.length, 'cache-control': 'no-cache', ...pageHeaders });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const server = http.createServer({ maxHeaderSize: 8192 }, (req, res) => {
    route(req, res).catch((err) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof ServeError) return sendError(res, err);
      sendError(res, new ServeError('serve-internal-error', 'the helper failed; see the server log'));
      process.emitWarning(`mtasts serve: ${err?.stack ?? err}`);
    });
  });
  server.requestTimeout = l.requestTimeoutMs;
  server.headersTimeout = 10_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const bound = server.address().port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    port: bound,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
