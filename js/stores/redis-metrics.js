// Prometheus metrics of the Redis layer (prom-client), read from the counters the connection, the
// store and the TLS-RPT log keep (`stats`), in a registry the caller gives (the relay's):
//
//   mtasts_redis_up                                  1 while Redis answers, else 0
//   mtasts_redis_calls_total{outcome}                ok | unavailable (not connected: answered from
//                                                    the local layer at once) | timeout | failed
//   mtasts_redis_outages_total                       times Redis went down after it had been up
//   mtasts_redis_local_answers_total                 store calls answered by the local layer alone
//   mtasts_redis_pending_policies                    policy writes waiting for Redis
//   mtasts_redis_pending_tlsrpt_counters             TLS-RPT counters waiting for Redis
//   mtasts_redis_tlsrpt_dropped_total                TLS-RPT records dropped: the backlog was full
//   mtasts_redis_garbage_total{kind}                 corrupt (unreadable under our keys) | foreign
//                                                    (a key of another type, not overwritten)

import { lazyPeerDependency } from '../peer-dependency.js';

const client = lazyPeerDependency('prom-client', 'the Redis metrics');

/**
 * @param {object} registry a prom-client Registry
 * @param {{ connection: object, store?: object, tlsrpt?: object }} parts
 */
export function registerRedisMetrics(registry, { connection, store, tlsrpt }) {
  const c = connection.stats;
  const gauge = (name, help, read, labelNames = []) =>
    new client.Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const v = read();
        if (typeof v === 'number') this.set(v);
        else for (const [label, n] of Object.entries(v)) this.set({ [labelNames[0]]: label }, n);
      },
    });
  gauge('mtasts_redis_up', 'Whether Redis answers (1) or not (0)', () => (connection.up ? 1 : 0));
  gauge('mtasts_redis_calls_total', 'Redis calls by outcome', () => ({
    ok: c.calls - c.unavailable - c.timeouts - c.failures,
    unavailable: c.unavailable,
    timeout: c.timeouts,
    failed: c.failures,
  }), ['outcome']);
  gauge('mtasts_redis_outages_total', 'Times Redis went down after it had been up', () => c.downs);
  gauge('mtasts_redis_local_answers_total', 'Store calls answered by the local layer alone', () => store?.stats.localAnswers ?? 0);
  gauge('mtasts_redis_pending_policies', 'Policy writes waiting for Redis', () => store?.pending ?? 0);
  gauge('mtasts_redis_pending_tlsrpt_counters', 'TLS-RPT counters waiting for Redis', () => tlsrpt?.pending ?? 0);
  gauge('mtasts_redis_tlsrpt_dropped_total', 'TLS-RPT records dropped because the backlog was full', () => tlsrpt?.stats.dropped ?? 0);
  gauge('mtasts_redis_garbage_total', 'Unreadable (corrupt) or foreign data met under our keys', () => ({
    corrupt: (store?.stats.corrupt ?? 0) + (tlsrpt?.stats.corrupt ?? 0),
    foreign: (store?.stats.foreign ?? 0) + (tlsrpt?.stats.foreign ?? 0),
  }), ['kind']);
}
