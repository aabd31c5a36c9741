// `mtasts check`'s report on the Node host: the assembly is host-agnostic (js/check/check-domain.js,
// shared with the checker page); this file gives it the Node probe (js/node/probe-mx.js) and makes
// sure the core is loaded (the Node entry loads it at import).

import '../node/index.js';
import { probeMx } from '../node/probe-mx.js';
import { checkDomain as checkWithHosts } from '../check/check-domain.js';

export { EXPIRY_WARNING_DAYS } from '../check/check-domain.js';

/**
 * checkDomain(domain, { dns, https, store, now, probe }) on the Node host (README: `mtasts check`).
 * A `probeMx` in the hosts replaces the Node probe.
 */
export function checkDomain(domain, hosts) {
  return checkWithHosts(domain, { ...hosts, probeMx: hosts.probeMx ?? probeMx });
}
