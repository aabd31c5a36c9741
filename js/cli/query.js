// `mtasts query DOMAIN`: what `mtasts socketmap` would tell Postfix for DOMAIN, and why — the
// same answers (js/socketmap/answers.js), the same config file and flags, no listener.

import { parseCommandLine, UsageError } from './usage.js';
import { OPTIONS as SOCKETMAP_OPTIONS, socketmapConfig, socketmapResources } from './socketmap.js';

export const usage = `usage: mtasts query [options] <domain | Postfix key>

Shows what mtasts socketmap answers Postfix for a next-hop domain (or a key as Postfix sends it,
e.g. "[mx.example.com]:25"), and why: the policy found (status, mode, id, expiry, errors), the MX
hosts a wildcard pattern needed, and the reply text.

options:
  --map NAME             the map name of the socketmap line (selects the zone; default postfix)
  --json                 one JSON object: { request, zone, policy, mx, answer }
  --config FILE, --store SPEC, --dns-server HOST:PORT, --ca-file FILE, --policy-port N
                         as for mtasts socketmap
  -h, --help             show this help

exit status: 0 the answer is OK or NOTFOUND, 1 TEMP, TIMEOUT or PERM, 2 usage error
`;

const OPTIONS = {
  map: { type: 'string' },
  json: { type: 'boolean' },
  config: SOCKETMAP_OPTIONS.config,
  store: SOCKETMAP_OPTIONS.store,
  'dns-server': SOCKETMAP_OPTIONS['dns-server'],
  'ca-file': SOCKETMAP_OPTIONS['ca-file'],
  'policy-port': SOCKETMAP_OPTIONS['policy-port'],
};

export async function run(args, io) {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length !== 1) throw new UsageError('give one domain; try mtasts query --help');
  const map = values.map ?? 'postfix';
  if (!/^[^\s]+$/.test(map)) throw new UsageError(`--map needs a name without spaces, found ${JSON.stringify(map)}`);
  const config = await socketmapConfig({ ...values, 'log-level': 'silent' });
  const { store, ca } = socketmapResources(config, io.env);
  await import('../node/index.js'); // loads the wasm module
  const { createNodeHosts } = await import('../node/resolve.js');
  const { PolicyResolver } = await import('../policy-resolver.js');
  const { createAnswers } = await import('../socketmap/answers.js');
  const hosts = createNodeHosts({ dnsServers: config.dnsServers, ca, policyPort: config.policyPort, timeout: config.fetchTimeout, dnsTimeout: config.dnsTimeout });
  const resolver = new PolicyResolver({ dns: hosts.dns, https: hosts.https, store, recheckAfter: config.recheckAfter });
  const answers = createAnswers({ resolver, dns: hosts.dns, zones: config.zones, defaultZone: config.defaultZone, answerTtl: 0 });
  const d = await answers.explain(Buffer.from(`${map} ${positionals[0]}`, 'utf8'));
  await store.close?.();
  const { answer } = d;
  if (values.json) {
    const policy = d.policy && {
      status: d.policy.status,
      mode: d.policy.policy?.mode ?? null,
      id: d.policy.id ?? null,
      mx: d.policy.policy?.mx ?? [],
      expiresAt: d.policy.expiresAt ? d.policy.expiresAt.toISOString() : null,
      source: d.policy.source ?? null,
      errors: (d.policy.errors ?? []).map((e) => ({ code: e.code, message: e.message })),
    };
    const zone = d.zone && { name: d.zone.name, strictTesting: d.zone.strictTesting, stsAttributes: d.zone.stsAttributes, timeout: d.zone.timeout };
    const request = { map: d.map, key: d.key, domain: d.domain };
    io.stdout.write(`${JSON.stringify({ request, zone, policy, timedOut: d.timedOut, mx: d.mx, answer }, null, 2)}\n`);
  } else {
    const lines = [`${d.map ?? map} ${d.key ?? positionals[0]} → ${answer.reply}`];
    if (d.domain) lines.push(`  policy domain  ${d.domain}${d.zone?.name === null ? ' (default zone)' : ` (zone ${d.zone.name})`}`);
    if (d.policy) {
      const p = d.policy;
      const what = p.policy ? `mode ${p.policy.mode}, id ${p.id}, mx ${p.policy.mx.join(' ')}, expires ${p.expiresAt?.toISOString() ?? '-'}` : 'no policy';
      lines.push(`  policy         ${p.status}${p.source ? ` (${p.source})` : ''}: ${what}${d.timedOut ? ' (discovery took longer than the zone timeout)' : ''}`);
      for (const e of p.errors ?? []) lines.push(`  ! ${e.code}: ${e.message}`);
    }
    if (d.mx) lines.push(`  MX             ${d.mx.kind === 'records' ? d.mx.exchanges.map((x, i) => `${x} (${d.mx.priorities[i]})`).join(', ') : `${d.mx.kind} ${d.mx.detail ?? ''}`}`);
    lines.push(`  why            ${answer.reason}`);
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return answer.class === 'ok' || answer.class === 'notfound' ? 0 : 1;
}
