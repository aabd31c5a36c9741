// Reuse of verified MX connections between transactions (the way Postfix caches SMTP connections):
// after the MX has answered the end of DATA the session is back in its initial state (RFC 5321
// §4.1.1.4), so the next message for the same policy domain can go over the same connection without
// another TCP connect, STARTTLS handshake and certificate check.
//
// A connection is reused only while the domain's policy is the one it was verified under (same
// status, mode and policy id, checked with the resolver's cache at take time), for at most
// `idleMs` of idle time and `maxUses` messages. An idle connection the MX closed is dropped.

/**
 * @param {object} options
 * @param {number} options.idleMs how long an idle connection is kept (0: no reuse)
 * @param {number} [options.maxUses] messages per connection (default 100)
 * @param {number} [options.maxIdlePerDomain] idle connections kept per domain (default 8)
 * @param {(domain: string) => Promise<object>} options.currentPolicy the resolver's answer now
 */
export function createDownstreamPool({ idleMs, maxUses = 100, maxIdlePerDomain = 8, currentPolicy }) {
  const idle = new Map(); // domain → [{ ds, conn, uses, timer }]
  let closed = false;

  const sameVerdictBasis = (a, b) =>
    a?.status === b?.status && (a?.policy?.mode ?? null) === (b?.policy?.mode ?? null) && (a?.id ?? null) === (b?.id ?? null);

  const remove = (domain, entry) => {
    const list = idle.get(domain);
    const i = list?.indexOf(entry) ?? -1;
    if (i >= 0) list.splice(i, 1);
    if (list && list.length === 0) idle.delete(domain);
    clearTimeout(entry.timer);
  };

  return {
    /** An idle connection for `domain` still valid under its policy, or null. */
    async take(domain) {
      if (closed || !idleMs) return null;
      for (;;) {
        const entry = idle.get(domain)?.at(-1);
        if (!entry) return null;
        remove(domain, entry);
        if (entry.ds.closed) continue;
        let policy;
        try {
          policy = await currentPolicy(domain);
        } catch {
          policy = null;
        }
        // RFC 8461 §5: the connection was judged under a policy; a changed policy judges anew.
        if (!sameVerdictBasis(policy, entry.conn.policy)) {
          entry.ds.quit();
          continue;
        }
        entry.uses += 1;
        return entry;
      }
    },

    /** Hands a connection back after a completed transaction (`entry` from take, or a new one). */
    release(domain, entry) {
      if (closed || !idleMs || entry.ds.closed || entry.uses >= maxUses) {
        entry.ds.quit();
        return;
      }
      const list = idle.get(domain) ?? [];
      if (list.length >= maxIdlePerDomain) {
        entry.ds.quit();
        return;
      }
      list.push(entry);
      idle.set(domain, list);
      entry.timer = setTimeout(() => {
        remove(domain, entry);
        entry.ds.quit();
      }, idleMs);
      entry.timer.unref();
    },

    /** QUITs every idle connection; later releases quit at once. */
    close() {
      closed = true;
      for (const [domain, list] of idle) {
        for (const entry of [...list]) {
          remove(domain, entry);
          entry.ds.quit();
        }
      }
    },
  };
}
