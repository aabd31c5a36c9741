// `mtasts relay`: an SMTP relay for a local MTA that delivers under the recipient's MTA-STS policy
// and never queues (js/relay/). This file reads the command line and runs it until SIGTERM/SIGINT.

import { parseCommandLine, UsageError } from './usage.js';

export const usage = `usage: mtasts relay [options]

An SMTP relay for a local MTA (Postfix: relayhost = [127.0.0.1]:10025; Exim: a manualroute
router to 127.0.0.1::10025). Each message is delivered to the recipient's MX under the domain's
MTA-STS policy (RFC 8461) before the relay answers the end of DATA, so every message is either
delivered, or still queued in the local MTA with a 4xx reason, or refused with the MX's own 5xx.
The relay has no queue of its own.

  - MAIL is accepted at once and sent to the MX with the first RCPT, which opens the connection
    to an MX of that recipient's domain; each RCPT gets the MX's reply. Recipients of a second
    domain in the same transaction get 452 4.5.3 (the local MTA sends them separately).
  - enforce policy and an MX that fails the policy, STARTTLS or the certificate check, or DNS,
    connect or time-out failures: 451 with an enhanced code naming the policy domain, the MX and
    the reason (e.g. 451 4.7.5 MTA-STS example.com (mode enforce) via mx1.example.com: ...).
  - testing mode and domains without a policy: delivered as RFC 8461 §5 says; every attempt's
    result is recorded for TLS-RPT (RFC 8460) in <store dir>/tlsrpt/<YYYY-MM-DD>/<domain>.jsonl.
  - the message goes on with a trace header first:
      MTA-STS-Verify: verified; domain=example.com; mode=enforce; id=2024; mx=mx1.example.com; tls=TLSv1.3
    (result verified | unverified | plaintext).

options:
  --listen HOST:PORT     listen here (repeatable; IPv6 as [::1]:10025); default 127.0.0.1:10025
  --helo NAME            the name given in EHLO to MX hosts and in the greeting (default: host name)
  --store file:DIR|memory|redis://HOST[:PORT][/DB][?local=DIR|memory]
                         policy cache and TLS-RPT records (default: file:$XDG_CACHE_HOME/mtasts,
                         or ~/.cache/mtasts); redis:// or rediss:// (TLS): shared by a fleet, with
                         a local layer and the journal in local=DIR (default: the default store)
  --allow CIDR           clients allowed to relay (repeatable; default 127.0.0.0/8 and ::1/128);
                         others get 554 5.7.1 when they connect
  --users FILE           require SMTP AUTH (PLAIN, LOGIN) with these users: lines name:HASH where
                         HASH comes from --hash-password; accepted only over TLS or from loopback
  --tls-cert FILE, --tls-key FILE
                         offer STARTTLS to clients with this certificate and key (PEM)
  --max-size OCTETS      largest message (announced as SIZE; default 52428800)
  --trace-header NAME    name of the trace header (default MTA-STS-Verify)
  --no-trace-header      add no trace header
  --metrics HOST:PORT    serve Prometheus metrics at http://HOST:PORT/metrics (off by default)
  --log-level LEVEL      fatal, error, warn, info (default; one line per delivery), debug
                         (also one line per MX attempt), trace, silent
  --log-file FILE        append the JSON log lines to FILE instead of stdout
  --refresh-interval S   look for cached policies due for refresh every S seconds, +-10 %
                         (default 900; 0 = never)
  --connect-timeout S    TCP connect to an MX address (default 30)
  --reply-timeout S      each MX reply up to STARTTLS (default 60); --tls-timeout S the handshake (30)
  --command-timeout S    each MX reply to EHLO, MAIL, RCPT, DATA (default 240)
  --data-timeout S       the MX's reply to the end of DATA (default 540)
  --delivery-timeout S   everything the first RCPT of a domain waits for: every MX address,
                         dialogue and handshake together (default 240, below Postfix's 300 s
                         smtp_rcpt_timeout)
  --mx-address-limit N   MX addresses dialled per recipient domain (default 5, as Postfix)
  --mx-session-limit N   SMTP sessions (greeted connections) per recipient domain (default 2)
  --tlsrpt-keep-days N   days of TLS-RPT session records kept under <store>/tlsrpt (default 10)
  --tlsrpt-send          send the TLS reports (RFC 8460) of each UTC day after it ends, as
                         \`mtasts report send\` does (same ledger, same retries); needs a file store,
                         --tlsrpt-org and --tlsrpt-contact. More settings (smtpUser, smtpPassFile,
                         from, dkimKey, dkimSelector, dkimDomain, onlyFailures) in the config
                         file's tlsrptSend object
  --tlsrpt-org NAME      RFC 8460 §4.4 organization-name of the reports
  --tlsrpt-contact ADDR  RFC 8460 §4.4 contact-info of the reports
  --tlsrpt-submitter D   the submitter's domain (default: the --helo name)
  --tlsrpt-smtp HOST:PORT  the submission server for mailto: endpoints (else they are skipped)
  --tlsrpt-send-delay S  send at a random moment within S seconds after 00:00 UTC (default 14400)
  --reuse-idle S         keep a verified MX connection idle S seconds for the next message to the
                         same domain, while its policy is unchanged (default 5; 0 = never reuse)
  --max-clients N        concurrent client sessions (default 500)
  --shutdown-timeout S   on SIGTERM/SIGINT, how long transactions in flight may take to finish
                         (default 600); new sessions get 421 4.3.2 at once
  --journal-days N       how many days the delivery journal remembers a delivered message (default
                         5; at least the local MTA's maximal queue lifetime, see below)
  --config FILE          a JSON object with any of these settings, named in camelCase (listen,
                         helo, store, allow, users, tlsCert, tlsKey, maxSize, traceHeader (false:
                         none), metrics, logLevel, logFile, refreshInterval, reuseIdle, maxClients,
                         shutdownTimeout, journalDays, mxAddressLimit, mxSessionLimit, tlsrptKeepDays, timeouts {connect, reply,
                         tls, delivery, command, dataEnd},
                         dnsServers, caFile, policyPort, smtpPort, tlsrptSend {organization,
                         contact, submitter, smtp, ...}); flags override the file
  --hash-password        read a password on stdin, print its hash for --users, and exit
  -h, --help             show this help

test infrastructure (off by default; for a lab such as \`mtasts demo\` runs):
  --dns-server HOST:PORT ask this name server instead of the system's (repeatable)
  --ca-file FILE         also trust the CA certificates (PEM) in FILE (policy host and MX hosts)
  --policy-port N        fetch policies from port N instead of 443
  --smtp-port N          connect to MX hosts on port N instead of 25
  --allow-private        dial MX addresses in loopback, private, link-local and other
                         special-purpose ranges (RFC 6890); refused by default (a lab needs it)

delivery journal: the relay holds the final "." of each message until the local MTA's end of data
and keys the message by SHA-256 over its envelope and content. In <store dir>/journal/<YYYY-MM-DD>.jsonl
it appends "pending" (fsync) before the "." goes to the MX and "delivered" (fsync) after the MX's
2xx, before it answers 250. When the relay dies between the two 250s, the local MTA sends the
message again; the relay finds it delivered, closes the MX connection instead of sending ".", and
answers 250 2.0.0 already delivered. Only a crash between the "." and the MX's reply can still lead
to a second copy (such a message counts as not delivered and goes to the MX again; it is never lost).
With --store memory the journal is in memory (it then does not survive a restart).

metrics: mtasts_relay_deliveries_total{outcome,mode}, mtasts_relay_policy_lookups_total{result},
  mtasts_relay_tls_failures_total{result_type}, mtasts_relay_mx_attempts_total{result},
  mtasts_relay_delivery_duration_seconds, mtasts_relay_connect_duration_seconds,
  mtasts_relay_sessions, mtasts_relay_reused_connections_total,
  mtasts_relay_policy_refreshes_total{result}, mtasts_relay_already_delivered_total, process metrics.

exit status: 0 after a graceful shutdown, 2 usage or configuration error
`;

const OPTIONS = {
  listen: { type: 'string', multiple: true },
  helo: { type: 'string' },
  store: { type: 'string' },
  allow: { type: 'string', multiple: true },
  users: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'max-size': { type: 'string' },
  'trace-header': { type: 'string' },
  'no-trace-header': { type: 'boolean' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  'log-file': { type: 'string' },
  'refresh-interval': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'reply-timeout': { type: 'string' },
  'delivery-timeout': { type: 'string' },
  'mx-address-limit': { type: 'string' },
  'mx-session-limit': { type: 'string' },
  'tlsrpt-keep-days': { type: 'string' },
  'tlsrpt-send': { type: 'boolean' },
  'tlsrpt-org': { type: 'string' },
  'tlsrpt-contact': { type: 'string' },
  'tlsrpt-submitter': { type: 'string' },
  'tlsrpt-smtp': { type: 'string' },
  'tlsrpt-send-delay': { type: 'string' },
  'tls-timeout': { type: 'string' },
  'command-timeout': { type: 'string' },
  'data-timeout': { type: 'string' },
  'reuse-idle': { type: 'string' },
  'max-clients': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'journal-days': { type: 'string' },
  config: { type: 'string' },
  'hash-password': { type: 'boolean' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string' },
  'policy-port': { type: 'string' },
  'smtp-port': { type: 'string' },
  'allow-private': { type: 'boolean' },
};

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`mtasts relay takes no arguments, found ${JSON.stringify(positionals[0])}`);
  if (values['hash-password']) return hashFromStdin(io);
  if (values['trace-header'] !== undefined && values['no-trace-header']) throw new UsageError('give --trace-header or --no-trace-header, not both');

  const { readConfigFile, resolveConfig } = await import('../relay/config.js');
  const timeouts = {};
  for (const [flag, key] of [['connect-timeout', 'connect'], ['reply-timeout', 'reply'], ['tls-timeout', 'tls'], ['delivery-timeout', 'delivery'], ['command-timeout', 'command'], ['data-timeout', 'dataEnd']]) {
    if (values[flag] !== undefined) timeouts[key] = values[flag];
  }
  let config;
  try {
    const file = values.config === undefined ? {} : readConfigFile(values.config);
    config = resolveConfig(file, {
      tlsrptSend: tlsrptSendFlags(values, file.tlsrptSend),
      listen: values.listen,
      helo: values.helo,
      store: values.store,
      allow: values.allow,
      users: values.users,
      tlsCert: values['tls-cert'],
      tlsKey: values['tls-key'],
      maxSize: values['max-size'],
      traceHeader: values['no-trace-header'] ? false : values['trace-header'],
      metrics: values.metrics,
      logLevel: values['log-level'],
      logFile: values['log-file'],
      refreshInterval: values['refresh-interval'],
      reuseIdle: values['reuse-idle'],
      maxClients: values['max-clients'],
      shutdownTimeout: values['shutdown-timeout'],
      journalDays: values['journal-days'],
      mxAddressLimit: values['mx-address-limit'],
      mxSessionLimit: values['mx-session-limit'],
      tlsrptKeepDays: values['tlsrpt-keep-days'],
      timeouts,
      dnsServers: values['dns-server'],
      caFile: values['ca-file'],
      policyPort: values['policy-port'],
      smtpPort: values['smtp-port'],
      allowPrivate: values['allow-private'] ? true : undefined,
    });
  } catch (err) {
    if (err && (err.code === 'config-invalid' || err.code === 'invalid-argument')) throw new UsageError(err.message);
    throw err;
  }

  const { startRelay } = await import('../relay/server.js');
  let relay;
  try {
    // Test hook (tests/js/relay-journal.test.mjs): die right after a delivery is journaled, before
    // the 250 goes upstream, the way a crash in that window would.
    const afterDelivered = io.env?.MTASTS_RELAY_TEST_CRASH_AFTER_DELIVERED === '1' ? () => process.kill(process.pid, 'SIGKILL') : undefined;
    relay = await startRelay(config, { env: io.env, afterDelivered });
  } catch (err) {
    if (err && ['config-invalid', 'users-file-invalid', 'listen-failed', 'invalid-argument', 'journal-unavailable'].includes(err.code)) throw new UsageError(err.message);
    throw err;
  }
  await new Promise((resolve) => {
    const stop = (signal) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      relay.close().then(resolve, resolve);
      void signal;
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  return 0;
}

async function hashFromStdin(io) {
  const { hashPassword } = await import('../relay/users.js');
  const chunks = [];
  for await (const chunk of io.stdin) chunks.push(chunk);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new UsageError('no password on stdin');
  io.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

/** --tlsrpt-* flags over the config file's tlsrptSend object (undefined: the file decides). */
function tlsrptSendFlags(values, fromFile) {
  const flags = { organization: values['tlsrpt-org'], contact: values['tlsrpt-contact'], submitter: values['tlsrpt-submitter'], smtp: values['tlsrpt-smtp'], maxDelay: values['tlsrpt-send-delay'] };
  const given = Object.entries(flags).filter(([, v]) => v !== undefined);
  if (!values['tlsrpt-send']) {
    if (given.length > 0 && !fromFile) throw new UsageError('the --tlsrpt-org, --tlsrpt-contact, --tlsrpt-submitter, --tlsrpt-smtp and --tlsrpt-send-delay flags need --tlsrpt-send');
    return given.length > 0 ? { ...fromFile, ...Object.fromEntries(given) } : undefined;
  }
  return { ...(fromFile ?? {}), ...Object.fromEntries(given) };
}
