// Prometheus metrics of the socketmap server (prom-client), one registry per server. Served by
// the relay's serveMetrics (js/relay/metrics.js) on an optional HTTP port.
//
//   mtasts_socketmap_queries_total{answer}             ok | notfound | temp | timeout | perm
//   mtasts_socketmap_answer_cache_total{result}        hit (answer reused) | miss (answer made)
//   mtasts_socketmap_policy_lookups_total{result}      hit (cached policy) | miss (fetched) | none (no policy)
//   mtasts_socketmap_query_duration_seconds{cached}    request read → reply queued
//   mtasts_socketmap_connections                       Postfix connections open now
//   mtasts_socketmap_protocol_errors_total{code}       connections closed for a malformed netstring
//   mtasts_socketmap_policy_refreshes_total{result}    proactive refreshes: ok | failed
//   plus prom-client's default process metrics

import { lazyPeerDependency } from '../peer-dependency.js';

const client = lazyPeerDependency('prom-client', 'the socketmap metrics');

const SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

/**
 * A counter whose label children only add to a number on the hot path (prom-client's own inc()
 * hashes and validates the labels at every call: a quarter of a microsecond, per cached query);
 * the sums reach prom-client when it is scraped, through its `collect` hook.
 */
function hotCounter(registry, name, help, labelName) {
  const children = new Map(); // label value → { n }
  const counter = new client.Counter({
    name,
    help,
    labelNames: [labelName],
    registers: [registry],
    collect() {
      for (const [value, child] of children) {
        if (child.n > 0) {
          counter.inc({ [labelName]: value }, child.n);
          child.n = 0;
        }
      }
    },
  });
  counter.labels = (value) => {
    let child = children.get(value);
    if (child === undefined) {
      child = { n: 0, inc: (by = 1) => void (child.n += by) };
      children.set(value, child);
      counter.inc({ [labelName]: value }, 0); // the series exists from the first use, at 0
    }
    return child;
  };
  return counter;
}

/**
 * A histogram with one label whose observe() is a bucket count on the hot path (prom-client's own
 * observe() costs about a microsecond), exported in prom-client's shape (a custom metric with get()).
 */
function hotHistogram(registry, name, help, labelName, buckets) {
  const children = new Map(); // label value → { counts (per bucket), sum, count }
  const histogram = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    labels(value) {
      let child = children.get(value);
      if (child === undefined) {
        const counts = new Float64Array(buckets.length);
        child = {
          counts,
          sum: 0,
          count: 0,
          observe(seconds) {
            let i = 0;
            while (i < buckets.length && seconds > buckets[i]) i++;
            if (i < buckets.length) counts[i]++;
            child.sum += seconds;
            child.count++;
          },
        };
        children.set(value, child);
      }
      return child;
    },
    async get() {
      const values = [];
      for (const [value, child] of children) {
        let acc = 0;
        buckets.forEach((le, i) => {
          acc += child.counts[i];
          values.push({ labels: { le, [labelName]: value }, value: acc, metricName: `${name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', [labelName]: value }, value: child.count, metricName: `${name}_bucket` });
        values.push({ labels: { [labelName]: value }, value: child.sum, metricName: `${name}_sum` });
        values.push({ labels: { [labelName]: value }, value: child.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() {
      children.clear();
    },
  };
  registry.registerMetric(histogram);
  return histogram;
}

/**
 * @param {object} [o]
 * @param {boolean} [o.processMetrics] prom-client's default process metrics (default true). Off when
 *   nothing serves the registry: their event-loop-lag monitor wakes the process every 10 ms and
 *   their GC observer runs at every collection, for figures no one can read.
 */
export function createSocketmapMetrics({ processMetrics = true } = {}) {
  const registry = new client.Registry();
  if (processMetrics) client.collectDefaultMetrics({ register: registry });
  const counter = (name, help, labelNames = []) => new client.Counter({ name, help, labelNames, registers: [registry] });
  const m = {
    registry,
    queries: hotCounter(registry, 'mtasts_socketmap_queries_total', 'Socketmap queries answered, by answer', 'answer'),
    answerCache: hotCounter(registry, 'mtasts_socketmap_answer_cache_total', 'Answers reused from the answer cache (hit) or made (miss)', 'result'),
    policyLookups: counter('mtasts_socketmap_policy_lookups_total', 'Policy look-ups: hit (cached policy), miss (fetched), none (no policy)', ['result']),
    seconds: hotHistogram(registry, 'mtasts_socketmap_query_duration_seconds', 'From a request read to its reply queued', 'cached', SECONDS),
    connections: new client.Gauge({ name: 'mtasts_socketmap_connections', help: 'Socketmap client connections open now', registers: [registry] }),
    protocolErrors: counter('mtasts_socketmap_protocol_errors_total', 'Connections closed for a malformed netstring, by code', ['code']),
    refreshes: counter('mtasts_socketmap_policy_refreshes_total', 'Proactive policy refreshes (RFC 8461 §3.3, §10.2) by result', ['result']),
  };
  for (const answer of ['ok', 'notfound', 'temp', 'timeout', 'perm']) m.queries.labels(answer);
  for (const result of ['hit', 'miss']) m.answerCache.labels(result);
  for (const cached of ['yes', 'no']) m.seconds.labels(cached);
  for (const result of ['hit', 'miss', 'none']) m.policyLookups.inc({ result }, 0);
  return m;
}
