// `mtasts socketmap`: a Postfix smtp_tls_policy_maps socketmap server (js/socketmap/). This file
// reads the command line and the config file and runs the server until SIGTERM/SIGINT.

import { makeStore, readCaFile } from './check.js';
import { parseCommandLine, UsageError } from './usage.js';

export const usage = `usage: mtasts socketmap [options]

Answers Postfix's TLS policy lookups (socketmap_table(5)) from each next-hop domain's MTA-STS
policy (RFC 8461), with the same discovery and cache as mtasts relay. Postfix main.cf:

  smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix

Answers: an enforce policy → OK secure match=<MX names> servername=hostname; a wildcard pattern
is answered with the domain's MX hosts it matches (never .example.com, which Postfix would match
at any depth; RFC 8461 §4.1); testing (unless the zone sets strict_testing), mode none, no policy
or a failed discovery with nothing cached → NOTFOUND (RFC 8461 §5); an enforce policy that no MX
host matches → TEMP (mail waits). The map name (":postfix" above) selects a zone of options.

options:
  --listen ADDR          HOST:PORT, [V6]:PORT or unix:PATH (repeatable; default 127.0.0.1:8461)
  --config FILE          YAML config: our keys and postfix-mta-sts-resolver's mta-sts-daemon.yml
                         keys (host, port, path, mode, zones, default_zone, strict_testing, timeout,
                         cache, proactive_policy_fetching, cache_grace, shutdown_timeout); see README
  --store SPEC           memory, file:DIR, or redis://, rediss://, redis+sentinel://HOST:PORT/NAME,
                         redis+cluster://HOST:PORT,HOST:PORT (default: file:$XDG_CACHE_HOME/mtasts,
                         or ~/.cache/mtasts); overrides the config's store/cache
  --metrics HOST:PORT    serve Prometheus metrics at http://HOST:PORT/metrics
  --log-level LEVEL      fatal, error, warn, info (default; one line per answer made), debug, silent
  --log-file FILE        append the JSON log lines to FILE instead of stdout
  --answer-ttl S         reuse an answer for S seconds, never past the policy's expiry (default 30)
  --refresh-interval S   refresh cached policies due for it every S seconds (default 900; 0 = never)
  -h, --help             show this help

test infrastructure (off by default):
  --dns-server HOST:PORT ask this name server instead of the system's (repeatable)
  --ca-file FILE         also trust the CA certificates (PEM) in FILE for the policy hosts
  --policy-port N        fetch policies from port N instead of 443

metrics: mtasts_socketmap_queries_total{answer}, mtasts_socketmap_answer_cache_total{result},
  mtasts_socketmap_policy_lookups_total{result}, mtasts_socketmap_query_duration_seconds{cached},
  mtasts_socketmap_connections, mtasts_socketmap_protocol_errors_total{code},
  mtasts_socketmap_policy_refreshes_total{result}, process metrics.

exit status: 0 after a graceful shutdown (SIGTERM/SIGINT), 2 usage or configuration error
`;

export const OPTIONS = {
  listen: { type: 'string', multiple: true },
  config: { type: 'string' },
  store: { type: 'string' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  'log-file': { type: 'string' },
  'answer-ttl': { type: 'string' },
  'refresh-interval': { type: 'string' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string' },
  'policy-port': { type: 'string' },
};

/** The configuration from --config and the flags; a UsageError for any mistake. */
export async function socketmapConfig(values) {
  const { readSocketmapConfig, resolveSocketmapConfig } = await import('../socketmap/config.js');
  try {
    const doc = values.config === undefined ? {} : readSocketmapConfig(values.config);
    return resolveSocketmapConfig(doc, {
      listen: values.listen,
      store: values.store,
      metrics: values.metrics,
      logLevel: values['log-level'],
      logFile: values['log-file'],
      answerTtl: values['answer-ttl'],
      refreshInterval: values['refresh-interval'],
      dnsServers: values['dns-server'],
      caFile: values['ca-file'],
      policyPort: values['policy-port'],
    });
  } catch (err) {
    if (err?.code === 'config-invalid') throw new UsageError(err.message);
    throw err;
  }
}

/** The store and extra CAs a configuration names (makeStore as every command has it). */
export function socketmapResources(config, env) {
  const store = makeStore(config.store ?? undefined, env);
  const ca = config.caFile ? readCaFile(config.caFile) : undefined;
  return { store, ca };
}

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`mtasts socketmap takes no arguments, found ${JSON.stringify(positionals[0])}`);
  const config = await socketmapConfig(values);
  const { store, ca } = socketmapResources(config, io.env);
  const { startSocketmap } = await import('../socketmap/daemon.js');
  let daemon;
  try {
    daemon = await startSocketmap(config, { store, ca });
  } catch (err) {
    if (err?.code === 'listen-failed' || err?.code === 'ERR_INVALID_IP_ADDRESS') throw new UsageError(err.message);
    throw err;
  }
  await new Promise((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      daemon.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await daemon.log.flush?.();
  return 0;
}
