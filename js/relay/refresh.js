// Proactive policy refresh in the background (RFC 8461 §3.3: senders should refresh cached policies
// before they expire; §10.2: so that an attacker who blocks the policy host at the moment of a
// delivery cannot make the policy lapse). Which entries are due is the core's decision
// (refreshDue, with jitter); this file only wakes up every `interval` ms, ±10 %, and asks.

/**
 * @param {{ refreshDue(): Promise<object[]> }} resolver a PolicyResolver
 * @param {object} options
 * @param {number} options.interval ms between runs (0: never)
 * @param {object} options.log pino logger
 * @param {object} options.metrics relay metrics
 * @param {() => number} [options.random]
 * @returns {{ stop(): Promise<void>, runNow(): Promise<void> }}
 */
export function startRefresh(resolver, { interval, log, metrics, random = Math.random }) {
  let timer = null;
  let running = null;
  let stopped = false;

  async function run() {
    try {
      const results = await resolver.refreshDue();
      for (const r of results) {
        const ok = r.status === 'found' && r.source === 'network';
        metrics.refreshes.inc({ result: ok ? 'ok' : 'failed' });
        log.info({ event: 'policy-refresh', domain: r.domain, status: r.status, id: r.id ?? null, source: r.source ?? null, errors: (r.errors ?? []).map((e) => e.code) });
      }
    } catch (err) {
      metrics.refreshes.inc({ result: 'failed' });
      log.error({ event: 'policy-refresh-failed', err: err.message });
    }
  }

  function schedule() {
    if (stopped || !interval) return;
    // Spec: ±10 % jitter, so that a fleet started together does not refresh in step.
    const delay = interval * (0.9 + 0.2 * random());
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = null;
        schedule();
      });
    }, delay);
    timer.unref();
  }

  schedule();
  return {
    async runNow() {
      await (running ?? run());
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
