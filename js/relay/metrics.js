// Prometheus metrics of the relay (prom-client), served as text on an optional HTTP port.
// One registry per relay (never prom-client's global one), so two relays in one process keep
// their own counts.
//
//   mtasts_relay_deliveries_total{outcome, mode}        delivered | deferred | rejected | aborted |
//                                                       already-delivered (found in the delivery journal);
//                                                       mode enforce | testing | none (none = no policy too)
//   mtasts_relay_policy_lookups_total{result}           hit (cached policy) | miss (fetched) | none (no policy)
//   mtasts_relay_tls_failures_total{result_type}        RFC 8460 result types of failed attempts
//   mtasts_relay_mx_attempts_total{result}              connection attempts: success or the failure code
//   mtasts_relay_delivery_duration_seconds{outcome}     first RCPT to the reply at the end of DATA
//   mtasts_relay_connect_duration_seconds{outcome}      connectMx: policy, MX look-up, TCP, STARTTLS
//   mtasts_relay_sessions                                SMTP sessions open now
//   mtasts_relay_reused_connections_total               transactions over an idle verified MX connection
//   mtasts_relay_policy_refreshes_total{result}         proactive refreshes: ok | failed
//   mtasts_relay_already_delivered_total                messages sent again by the local MTA that the
//                                                       delivery journal had as delivered (not sent twice)
//   plus prom-client's default process metrics (memory, CPU, event loop lag)

import http from 'node:http';
import { lazyPeerDependency } from '../peer-dependency.js';

const client = lazyPeerDependency('prom-client', 'the relay metrics');

const SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createRelayMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    deliveries: new client.Counter({
      name: 'mtasts_relay_deliveries_total',
      help: 'Messages the relay tried to deliver, by outcome and policy mode',
      labelNames: ['outcome', 'mode'],
      registers: [registry],
    }),
    policyLookups: new client.Counter({
      name: 'mtasts_relay_policy_lookups_total',
      help: 'Policy look-ups: hit (served from the cache), miss (fetched), none (no policy)',
      labelNames: ['result'],
      registers: [registry],
    }),
    tlsFailures: new client.Counter({
      name: 'mtasts_relay_tls_failures_total',
      help: 'Failed delivery attempts by TLS-RPT result type (RFC 8460)',
      labelNames: ['result_type'],
      registers: [registry],
    }),
    mxAttempts: new client.Counter({
      name: 'mtasts_relay_mx_attempts_total',
      help: 'Connection attempts to MX addresses by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    deliverySeconds: new client.Histogram({
      name: 'mtasts_relay_delivery_duration_seconds',
      help: 'From the first RCPT of a transaction to the reply at the end of DATA',
      labelNames: ['outcome'],
      buckets: SECONDS,
      registers: [registry],
    }),
    connectSeconds: new client.Histogram({
      name: 'mtasts_relay_connect_duration_seconds',
      help: 'Opening the verified connection to the MX (policy, MX look-up, TCP, STARTTLS)',
      labelNames: ['outcome'],
      buckets: SECONDS,
      registers: [registry],
    }),
    sessions: new client.Gauge({
      name: 'mtasts_relay_sessions',
      help: 'SMTP sessions from local MTAs open now',
      registers: [registry],
    }),
    reusedConnections: new client.Counter({
      name: 'mtasts_relay_reused_connections_total',
      help: 'Transactions sent over an idle verified MX connection instead of a new one',
      registers: [registry],
    }),
    refreshes: new client.Counter({
      name: 'mtasts_relay_policy_refreshes_total',
      help: 'Proactive policy refreshes (RFC 8461 §3.3, §10.2) by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    alreadyDelivered: new client.Counter({
      name: 'mtasts_relay_already_delivered_total',
      help: 'Messages the local MTA sent again after a relay crash, found delivered in the delivery journal and not sent to the MX twice',
      registers: [registry],
    }),
    tlsrptReports: new client.Counter({
      name: 'mtasts_relay_tlsrpt_reports_total',
      help: 'TLS reports (RFC 8460) the relay sent itself (--tlsrpt-send), per endpoint, by outcome: sent, deferred, failed, given-up, skipped',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
  // Every label set that a dashboard expects shows up as 0 before the first event.
  for (const outcome of ['delivered', 'deferred', 'rejected', 'aborted']) {
    for (const mode of ['enforce', 'testing', 'none']) m.deliveries.inc({ outcome, mode }, 0);
  }
  for (const result of ['hit', 'miss', 'none']) m.policyLookups.inc({ result }, 0);
  return m;
}

/** Serves `GET /metrics` on host:port; resolves the listening server. */
export async function serveMetrics(metrics, { host, port }) {
  const server = http.createServer(async (req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
