// `mtasts check <domain>`: the domain's MTA-STS setup step by step (TXT record, policy fetch, policy,
// MX hosts), for a person or as one JSON object (README: "mtasts check").

import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import tls from 'node:tls';
import { isAbsolute, join } from 'node:path';
import { memoryStore, fileStore, redisStore } from '../node/index.js';
import { isRedisSpec } from '../stores/redis-connection.js';
import { checkHeloName } from '../core.js';
import { createNodeHosts } from '../node/resolve.js';
import { checkDomain } from './check-domain.js';
import { renderReport } from './check-report.js';
import { painter } from './colour.js';
import { integer, parseCommandLine, UsageError } from './usage.js';

export const usage = `usage: mtasts check [options] <domain>

Checks the MTA-STS setup of <domain> step by step: the TXT record at _mta-sts.<domain>
(RFC 8461 §3.1), the policy fetch from https://mta-sts.<domain>/.well-known/mta-sts.txt (§3.3),
the policy (§3.2), and the domain's MX hosts with whether each matches the policy (§4.1).
Then it probes each MX host on every address: STARTTLS offered (RFC 3207), TLS version, the
certificate checked for the MX host name (§4.2) and its expiry, and the verdict the policy implies
for that host (§5: deliver, deliver-plaintext or try-next). The probe says EHLO, STARTTLS, and QUIT:
it never sends mail.

options:
  --json                 print one JSON object instead (schema in README.md, "mtasts check")
  --store file:DIR|memory|redis://HOST[:PORT][/DB]
                         policy cache (default: file:$XDG_CACHE_HOME/mtasts, or ~/.cache/mtasts;
                         redis:// or rediss://: a relay fleet's shared cache);
                         a cached policy whose id is unchanged is not fetched again
  --timeout MS           policy fetch time limit in milliseconds (default 60000)
  --dns-timeout MS       DNS query time limit in milliseconds, per try (default 5000)
  --dns-tries N          tries per DNS server before a query counts as failed (default 2)
  --refresh              ignore the cached policy: ask and fetch everything again (the fresh
                         result is still cached for the next run)
  --no-probe             do not connect to the MX hosts (only the DNS and the policy are checked)
  --helo NAME            the name the probe gives in EHLO (default: this host's name)
  --no-color             no colour (colour is used only on a terminal, and never with NO_COLOR)
  -h, --help             show this help

test infrastructure (off by default; for a lab such as \`mtasts demo\` runs):
  --dns-server HOST:PORT ask this name server instead of the system's (repeatable)
  --ca-file FILE         also trust the CA certificates (PEM) in FILE (policy host and MX hosts)
  --policy-port N        fetch the policy from port N instead of 443
  --smtp-port N          probe the MX hosts on port N instead of 25
  --allow-private        probe MX addresses in loopback, private, link-local and other
                         special-purpose ranges (RFC 6890); refused by default

exit status: 0 valid policy and every MX host matches it and, under enforce or testing, passes
               the probe (mode none counts as valid),
             1 something is wrong (no policy, an error, an MX mismatch, a temporary failure, a
               matching MX host that fails the probe under enforce or testing),
             2 usage or local error
`;

const OPTIONS = {
  json: { type: 'boolean' },
  store: { type: 'string' },
  timeout: { type: 'string' },
  'dns-timeout': { type: 'string' },
  'dns-tries': { type: 'string' },
  refresh: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string' },
  'policy-port': { type: 'string' },
  'no-probe': { type: 'boolean' },
  helo: { type: 'string' },
  'smtp-port': { type: 'string' },
  'allow-private': { type: 'boolean' },
};

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length === 0) throw new UsageError('missing domain; try mtasts check --help');
  if (positionals.length > 1) throw new UsageError('give one domain at a time');
  const hostOptions = {
    dnsServers: values['dns-server'],
    ca: values['ca-file'] === undefined ? undefined : readCaFile(values['ca-file']),
    policyPort: integer(values['policy-port'], '--policy-port', 1, 65535),
    timeout: integer(values.timeout, '--timeout', 1, 3_600_000),
    dnsTimeout: integer(values['dns-timeout'], '--dns-timeout', 1, 600_000),
    dnsTries: integer(values['dns-tries'], '--dns-tries', 1, 10),
  };
  const smtpPort = integer(values['smtp-port'], '--smtp-port', 1, 65535) ?? 25;
  const probe = values['no-probe']
    ? false
    : {
        heloName: heloName(values.helo),
        port: smtpPort,
        allowPrivate: values['allow-private'] === true,
        // The extra CAs are trusted for the MX certificates too, as connectMx's `ca` does.
        roots: hostOptions.ca === undefined ? undefined : [...tls.rootCertificates, hostOptions.ca],
      };
  const store = makeStore(values.store, io.env);
  const report = await checkDomain(domainArgument(positionals[0]), { ...makeHosts(hostOptions), store: values.refresh ? refreshing(store) : store, probe });
  if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(renderReport(report, painter(io, { noColor: values['no-color'] })));
  return report.ok ? 0 : 1;
}

function domainArgument(domain) {
  // A domain as people paste it: a trailing dot is the root, not part of the name.
  const name = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (name === '' || /[\s/:@]/.test(name)) throw new UsageError(`not a domain name: ${JSON.stringify(domain)}`);
  return name;
}

/** The EHLO name: --helo, else this host's name (else localhost), as the core accepts it. */
export function heloName(given) {
  const valid = (name) => {
    try {
      checkHeloName(name);
      return true;
    } catch {
      return false;
    }
  };
  if (given !== undefined) {
    if (!valid(given)) throw new UsageError(`--helo needs a host name without spaces, found ${JSON.stringify(given)}`);
    return given;
  }
  const own = hostname();
  return valid(own) ? own : 'localhost';
}

/** Host options, validated here so that a mistake is a usage error, not a failed look-up. */
export function makeHosts(options) {
  try {
    return createNodeHosts(options);
  } catch (err) {
    if (err?.code === 'ERR_INVALID_IP_ADDRESS') {
      throw new UsageError(`--dns-server needs an IP address with an optional port (127.0.0.1:5353, [::1]:53), found ${options.dnsServers.join(', ')}`);
    }
    throw err;
  }
}

/** The PEM certificates of `file` (--ca-file), each checked to parse; a UsageError otherwise. */
export function readCaFile(file) {
  let pem;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    const why = { ENOENT: 'no such file', EISDIR: 'is a directory', EACCES: 'permission denied' }[err.code] ?? err.code ?? err.message;
    throw new UsageError(`cannot read ${file}: ${why}`);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new UsageError(`${file} holds no PEM certificate`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw new UsageError(`${file} holds a certificate that cannot be parsed`);
    }
  }
  return pem;
}

/**
 * `--refresh`: the store as the resolver sees it with nothing in it (so the record is asked and
 * the policy fetched again, RFC 8461 §3.3), while what it finds is still written for next time.
 */
function refreshing(store) {
  return { ...store, get: async () => null, put: (...args) => store.put(...args), delete: (...args) => store.delete(...args), list: (...args) => store.list(...args), close: store.close?.bind(store) };
}

/** The policy cache: `memory`, `file:DIR`, or by default a file store in the user's cache directory. */
export function makeStore(spec, env) {
  if (spec === 'memory') return memoryStore();
  if (spec === undefined) return fileStore(defaultStoreDir(env));
  if (spec.startsWith('file:') && spec.length > 'file:'.length) return fileStore(spec.slice('file:'.length));
  // A fleet's shared cache (js/stores/redis.js); its local layer is memory unless ?local=DIR.
  if (isRedisSpec(spec)) {
    try {
      return redisStore(spec);
    } catch (err) {
      throw new UsageError(`--store ${err.message}`);
    }
  }
  throw new UsageError(`--store must be memory or file:DIR, or redis://HOST[:PORT][/DB], found ${JSON.stringify(spec)}`);
}

/** $XDG_CACHE_HOME/mtasts, or ~/.cache/mtasts (the XDG base directory spec ignores a relative path). */
export function defaultStoreDir(env) {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'mtasts');
}

