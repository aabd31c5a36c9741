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

export function createSocketmapMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const counter = (name, help, labelNames = []) => new client.Counter({ name, help, labelNames, registers: [registry] });
  const m = {
    registry,
    queries: counter('mtasts_socketmap_queries_total', 'Socketmap queries answered, by answer', ['answer']),
    answerCache: counter('mtasts_socketmap_answer_cache_total', 'Answers reused from the answer cache (hit) or made (miss)', ['result']),
    policyLookups: counter('mtasts_socketmap_policy_lookups_total', 'Policy look-ups: hit (cached policy), miss (fetched), none (no policy)', ['result']),
    seconds: new client.Histogram({
      name: 'mtasts_socketmap_query_duration_seconds',
      help: 'From a request read to its reply queued',
      labelNames: ['cached'],
      buckets: SECONDS,
      registers: [registry],
    }),
    connections: new client.Gauge({ name: 'mtasts_socketmap_connections', help: 'Socketmap client connections open now', registers: [registry] }),
    protocolErrors: counter('mtasts_socketmap_protocol_errors_total', 'Connections closed for a malformed netstring, by code', ['code']),
    refreshes: counter('mtasts_socketmap_policy_refreshes_total', 'Proactive policy refreshes (RFC 8461 §3.3, §10.2) by result', ['result']),
  };
  for (const answer of ['ok', 'notfound', 'temp', 'timeout', 'perm']) m.queries.inc({ answer }, 0);
  for (const result of ['hit', 'miss']) m.answerCache.inc({ result }, 0);
  for (const result of ['hit', 'miss', 'none']) m.policyLookups.inc({ result }, 0);
  return m;
}
