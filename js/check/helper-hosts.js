// The page's HTTPS and probe hosts: they ask `mtasts serve`'s helpers for raw facts (a browser can
// neither fetch a policy host that sends no CORS headers nor open an SMTP connection) and hand them
// to the core in the shapes the Node hosts use. Without the helpers (the page hosted as static
// files) both answer "not checkable from a browser", which the page shows as such, never as a
// failure of the domain.

import { fromBase64 } from './probe-transcript.js';
import { replayProbe } from './probe-replay.js';

export const NOT_CHECKABLE = 'not-checkable-from-browser';
const POLICY_URL = /^https:\/\/mta-sts\.([^/]+)\/\.well-known\/mta-sts\.txt$/;

async function helperJson(fetchFn, url) {
  let response;
  try {
    response = await fetchFn(url, { headers: { accept: 'application/json' } });
  } catch (err) {
    return { error: { code: 'serve-unreachable', message: `the checker's server did not answer: ${err?.message ?? err}` } };
  }
  let body;
  try {
    body = await response.json();
  } catch {
    return { error: { code: 'serve-bad-answer', message: `the checker's server answered ${response.status} without JSON` } };
  }
  return response.ok ? { body } : { error: { code: String(body?.code ?? 'serve-error'), message: String(body?.message ?? response.status) } };
}

/**
 * The HTTPS host (`get(url)`, the Node HTTPS host's answers). `base` is the server's origin path
 * ('' for the page's own), or null when there are no helpers.
 */
export function createHelperHttps({ base, fetch: fetchFn = globalThis.fetch.bind(globalThis) }) {
  return {
    async get(url) {
      const m = POLICY_URL.exec(url);
      if (base === null || !m) {
        return { ok: false, kind: 'protocol', detail: NOT_CHECKABLE, message: 'the policy host cannot be fetched from a browser (no CORS); run mtasts serve or mtasts check' };
      }
      const { body, error } = await helperJson(fetchFn, `${base}/api/policy?domain=${encodeURIComponent(m[1])}`);
      // A refusal by the helper (rate limit, private target) is not a fact about the domain.
      if (error) return { ok: false, kind: 'protocol', detail: error.code, message: `the checker's server did not fetch the policy: ${error.message}` };
      const certificate = body.certificate ? { trusted: body.certificate.trusted === true, chain: chainOf(body.certificate.chain) } : undefined;
      return { ...body, ...(body.ok ? { body: fromBase64(body.body) } : {}), ...(certificate ? { certificate } : {}) };
    },
  };
}

/** The policy host's chain as the helper sends it (base64 DER); anything else is no chain. */
function chainOf(list) {
  if (!Array.isArray(list)) return [];
  try {
    return list.map((b64) => fromBase64(String(b64)));
  } catch {
    return [];
  }
}

/**
 * A probeMx(host, options) for checkDomain: the helper's transcript replayed into the page's core;
 * the server's trust anchors (/api/roots) are asked for once, when a chain is first judged.
 * @param {object} options
 * @param {string | null} options.base
 * @param {() => Promise<object>} [options.core] the module the probe machine runs in (replayProbe)
 */
export function createHelperProbe({ base, fetch: fetchFn = globalThis.fetch.bind(globalThis), core }) {
  let anchors;
  const roots = () =>
    (anchors ??= helperJson(fetchFn, `${base}/api/roots`).then(({ body, error }) => {
      if (error) throw new Error(error.message);
      return body.roots;
    }));
  return async function probeMx(host, { domain, policy, policyId, now } = {}) {
    const notCheckable = (code, message) => ({ host, port: null, addresses: [], verdict: null, starttls: null, tlsVersion: null, cipher: null, certificate: null, error: { code, message } });
    if (base === null) return notCheckable(NOT_CHECKABLE, 'a browser cannot open an SMTP connection; run mtasts serve or mtasts check');
    // The module the probe machine runs in loads while the server probes, not after.
    const machine = core?.();
    machine?.catch(() => {});
    const { body, error } = await helperJson(fetchFn, `${base}/api/probe?domain=${encodeURIComponent(domain)}&host=${encodeURIComponent(host)}`);
    if (error) return notCheckable(error.code, `the checker's server did not probe ${host}: ${error.message}`);
    return replayProbe(host, body, { domain, policy, policyId, now, roots, core: machine && (() => machine) });
  };
}
