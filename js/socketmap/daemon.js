// `mtasts socketmap` put together: the Node DNS and HTTPS hosts, a PolicyResolver over the given
// store (the same discovery and cache as the relay), the answers, the listeners, proactive
// refresh (js/relay/refresh.js), pino logs and Prometheus metrics (js/relay/log.js, metrics.js).

// The Node entry loads the wasm module (at import) that the core calls below need.
import '../node/index.js';
import { createNodeHosts } from '../node/resolve.js';
import { PolicyResolver } from '../policy-resolver.js';
import { memoryStore } from '../stores/memory.js';
import { createLogger } from '../relay/log.js';
import { serveMetrics } from '../relay/metrics.js';
import { startRefresh } from '../relay/refresh.js';
import { createAnswers } from './answers.js';
import { createSocketmapMetrics } from './metrics.js';
import { startSocketmapServer } from './server.js';

/**
 * @param {object} config      resolveSocketmapConfig(...)
 * @param {object} [o]
 * @param {object} [o.store]   policy store (default: memoryStore())
 * @param {string} [o.ca]      extra trusted CAs (PEM) for the policy hosts (test infrastructure)
 * @param {object} [o.logger]  pino logger (default: createLogger from config.logLevel/logFile)
 * @param {object} [o.dns]     DNS host instead of the Node one (tests)
 * @returns {Promise<{ addresses, metricsAddress, answers, resolver, metrics, log, stop() }>}
 */
export async function startSocketmap(config, { store = memoryStore(), ca, logger, dns: dnsHost } = {}) {
  const log = (logger ?? createLogger({ level: config.logLevel, file: config.logFile ?? undefined })).child({ service: 'socketmap' });
  for (const note of config.notes ?? []) log.warn({ event: 'socketmap-config-note', note });
  const hosts = createNodeHosts({ dnsServers: config.dnsServers, ca, policyPort: config.policyPort, timeout: config.fetchTimeout, dnsTimeout: config.dnsTimeout });
  const dns = dnsHost ?? hosts.dns;
  const metrics = createSocketmapMetrics({ processMetrics: Boolean(config.metrics) });
  const resolver = new PolicyResolver({
    dns,
    https: hosts.https,
    store,
    recheckAfter: config.recheckAfter,
    onStoreError: (err, domain) => log.warn({ event: 'store-error', domain, err: err.message }),
  });
  const answers = createAnswers({ resolver, dns, zones: config.zones, defaultZone: config.defaultZone, answerTtl: config.answerTtl, metrics, log });
  const refresh = startRefresh(resolver, { interval: config.refreshInterval * 1000, log, metrics });
  let metricsServer = null;
  let server;
  try {
    if (config.metrics) metricsServer = await serveMetrics(metrics, config.metrics);
    server = await startSocketmapServer({
      listen: config.listen,
      answers,
      log,
      metrics,
      maxRequest: config.maxRequest,
      maxPending: config.maxPending,
      requestTimeout: config.requestTimeout,
      idleTimeout: config.idleTimeout,
      maxConnections: config.maxConnections,
      shutdownTimeout: config.shutdownTimeout,
    });
  } catch (err) {
    await refresh.stop();
    if (metricsServer) await new Promise((r) => metricsServer.close(r));
    throw err;
  }
  let stopped = null;
  return {
    addresses: server.addresses,
    metricsAddress: metricsServer ? metricsServer.address() : null,
    answers,
    resolver,
    metrics,
    log,
    get connections() {
      return server.connections;
    },
    stop() {
      stopped ??= (async () => {
        await server.stop();
        await refresh.stop();
        if (metricsServer) await new Promise((r) => metricsServer.close(r));
        await store.close?.();
      })();
      return stopped;
    },
  };
}
