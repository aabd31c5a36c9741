// `mtasts serve`: the browser policy checker (js/checker/) and its helpers (js/serve/), README
// "mtasts serve".

import '../node/index.js'; // loads the core
import tls from 'node:tls';
import { isIP } from 'node:net';
import { startServer } from '../serve/server.js';
import { heloName, makeHosts, readCaFile } from './check.js';
import { integer, parseCommandLine, UsageError } from './usage.js';

export const usage = `usage: mtasts serve [options]

Serves the MTA-STS checker page: a domain owner types a domain and sees, check by check, the
_mta-sts TXT record, the policy fetch and the policy with every problem at its line, the MX hosts
and what each shows on STARTTLS, the _smtp._tls TLS-RPT record, and what a sender will do. The
page runs the core in the browser and makes every verdict itself; this server only offers narrow
helpers that return raw facts: DNS over HTTPS (/dns-query, RFC 8484), the one policy URL of a
domain (/api/policy), and an EHLO/STARTTLS/QUIT probe of the domain's MX hosts (/api/probe).
Targets on loopback, private, link-local, multicast or reserved addresses are refused.

options:
  --listen HOST:PORT     where to listen (default 127.0.0.1:8080)
  --helo NAME            the name the probe gives in EHLO (default: this host's name)
  --timeout MS           policy fetch time limit in milliseconds (default 10000)
  --dns-timeout MS       DNS query time limit in milliseconds, per try (default 5000)
  --allow-private        let the helpers reach private and loopback addresses (for a lab)
  -h, --help             show this help

test infrastructure (off by default; for a lab such as \`mtasts demo\` runs):
  --dns-server HOST:PORT ask this name server instead of the system's (repeatable)
  --ca-file FILE         also trust the CA certificates (PEM) in FILE (policy host and MX hosts)
  --policy-port N        fetch the policy from port N instead of 443
  --smtp-port N          probe the MX hosts on port N instead of 25

Runs until interrupted (SIGINT, SIGTERM).
`;

const OPTIONS = {
  listen: { type: 'string' },
  helo: { type: 'string' },
  timeout: { type: 'string' },
  'dns-timeout': { type: 'string' },
  'allow-private': { type: 'boolean' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string' },
  'policy-port': { type: 'string' },
  'smtp-port': { type: 'string' },
};

function listenAddress(text = '127.0.0.1:8080') {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const host = m && (m[1] ?? m[2]);
  if (!m || isIP(host) === 0) throw new UsageError(`--listen needs an IP address and a port (127.0.0.1:8080, [::1]:8080), found ${JSON.stringify(text)}`);
  return { host, port: integer(m[3], '--listen port', 0, 65535) };
}

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`mtasts serve takes no arguments, found ${JSON.stringify(positionals[0])}`);
  const { host, port } = listenAddress(values.listen);
  const ca = values['ca-file'] === undefined ? undefined : readCaFile(values['ca-file']);
  const httpsOptions = {
    ca,
    policyPort: integer(values['policy-port'], '--policy-port', 1, 65535),
    timeout: integer(values.timeout, '--timeout', 1, 600_000) ?? 10_000,
  };
  const { dns } = makeHosts({ dnsServers: values['dns-server'], dnsTimeout: integer(values['dns-timeout'], '--dns-timeout', 1, 600_000) });
  const server = await startServer({
    host,
    port,
    dns,
    httpsOptions,
    heloName: heloName(values.helo),
    smtpPort: integer(values['smtp-port'], '--smtp-port', 1, 65535) ?? 25,
    // The page judges MX chains with the anchors `mtasts check` uses: Node's roots plus --ca-file.
    roots: ca === undefined ? [...tls.rootCertificates] : [...tls.rootCertificates, ...splitPem(ca)],
    allowPrivate: values['allow-private'] === true,
  });
  io.stdout.write(`mtasts serve: the checker is at ${server.url}${values['allow-private'] ? ' (private targets allowed)' : ''}\n`);
  await new Promise((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

function splitPem(pem) {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
