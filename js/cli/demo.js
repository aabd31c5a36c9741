// `mtasts demo`: starts the loopback lab (js/lab), runs `mtasts check` over every scenario domain in
// it, prints what each shows and whether it behaved as the catalogue expects, and stops the lab.
// Needs nothing installed: the lab's DNS server is embedded.

import { memoryStore } from '../node/index.js';
import { startLab } from '../lab/index.js';
import { checkDomain } from './check-domain.js';
import { renderReportDemo, runReportDemo } from './demo-report.js';
import { makeHosts } from './check.js';
import { painter, marks } from './colour.js';
import { parseCommandLine } from './usage.js';

export const usage = `usage: mtasts demo [--json] [--no-color]
       mtasts demo survey

Starts the lab, a whole MTA-STS world on loopback (a DNS server, HTTPS policy hosts with a lab CA
made at start, one domain per scenario), runs \`mtasts check\` over every scenario domain, and
prints a table: what each scenario shows, what check found, and whether that is what the
scenario expects. Then the relay delivers a few messages through the lab's MX (good and bad
certificates under enforce, testing and no policy) and the TLS report (RFC 8460) the day's
sessions give is shown. Then stops the lab. Only loopback is used; nothing needs to be installed.

demo survey: a lab world of the original study's 102 providers (9 with an MTA-STS record, all in
testing mode; 2 with a TXT record at _mta-sts that is not MTA-STS), surveyed as \`mtasts survey\`
does and printed as the study's table; exit 0 when the counts are the world's.

options:
  --json       print one JSON object: { ok, scenarios: [{ name, description, expect, matches,
               problems, check }], tlsrpt: { ok, deliveries: [{ to, mx, expect, outcome, reply,
               matches }], reports: [readTlsRptReport summary + fileName] } } where check is the
               \`mtasts check --json\` object
  --no-color   no colour (colour is used only on a terminal, and never with NO_COLOR)
  -h, --help   show this help

exit status: 0 every scenario behaved as expected, 1 some did not, 2 usage or local error
`;

const OPTIONS = { json: { type: 'boolean' }, 'no-color': { type: 'boolean' } };

// Spec: short limits so the hostile scenarios (policy-slow, dns-timeout) end in seconds; they are
// still far above what the lab needs on loopback.
const POLICY_TIMEOUT_MS = 3000;
const DNS_TIMEOUT_MS = 1000;

export async function run(args, io) {
  if (args[0] === 'survey') {
    const survey = await import('../survey/demo.js');
    parseCommandLine(args.slice(1), {});
    return survey.run(args.slice(1), io);
  }
  const { values } = parseCommandLine(args, OPTIONS);
  const { results, tlsrpt } = await runDemo();
  const ok = results.every((r) => r.matches) && tlsrpt.ok;
  if (values.json) io.stdout.write(`${JSON.stringify({ ok, scenarios: results, tlsrpt }, null, 2)}\n`);
  else io.stdout.write(renderTable(results, tlsrpt, painter(io, { noColor: values['no-color'] })));
  return ok ? 0 : 1;
}

/**
 * Runs check over every lab scenario, then the TLS-RPT deliveries (demo-report.js); returns
 * { results: one per scenario, in catalogue order, tlsrpt }.
 */
export async function runDemo() {
  const lab = await startLab();
  try {
    const hosts = makeHosts({
      dnsServers: [lab.dns.server],
      ca: lab.caPem,
      policyPort: lab.policyPort,
      timeout: POLICY_TIMEOUT_MS,
      dnsTimeout: DNS_TIMEOUT_MS,
    });
    const store = memoryStore();
    const results = await Promise.all(
      lab.scenarios.map(async (s) => {
        // Spec: no MX probe: the scenarios are about DNS and policies, and no lab MX answers SMTP.
        const check = await checkDomain(s.domain, { ...hosts, store, probe: false });
        const problems = compare(s.expect, check);
        return { name: s.name, description: s.description, expect: s.expect, matches: problems.length === 0, problems, check };
      }),
    );
    return { results, tlsrpt: await runReportDemo(lab) };
  } finally {
    await lab.stop();
  }
}

/** How a check differs from the scenario's expectation (scenarios.js: `expect`); empty when it matches. */
export function compare(expect, check) {
  const problems = [];
  const p = check.policy;
  if (p.status !== expect.status) problems.push(`policy status ${p.status}, expected ${expect.status}`);
  if (expect.mode !== undefined && p.mode !== expect.mode) problems.push(`mode ${p.mode}, expected ${expect.mode}`);
  // The resolver's errors; mx-* errors are check's own (MX matching is compared below).
  const codes = check.errors.map((e) => e.code).filter((c) => !c.startsWith('mx-'));
  if (expect.errorCode !== undefined && !codes.includes(expect.errorCode)) {
    problems.push(`errors [${codes.join(', ')}], expected ${expect.errorCode}`);
  }
  if (expect.errorCode === undefined && codes.length > 0) problems.push(`unexpected errors [${codes.join(', ')}]`);
  if (expect.mxMatch !== undefined) {
    const got = Object.fromEntries(check.mx.map((h) => [h.host, h.matchesPolicy]));
    for (const [host, want] of Object.entries(expect.mxMatch)) {
      if (got[host] !== want) problems.push(`MX ${host} matches ${got[host]}, expected ${want}`);
    }
    for (const host of Object.keys(got)) if (!(host in expect.mxMatch)) problems.push(`unexpected MX ${host}`);
  }
  return problems;
}

function renderTable(results, tlsrpt, paint) {
  const m = marks(paint);
  const header = ['', 'scenario', 'record', 'policy', 'mode', 'errors', 'MX match', 'what it shows'];
  const rows = results.map((r) => {
    const c = r.check;
    const matched = c.mx.filter((h) => h.matchesPolicy).length;
    return [
      r.matches ? m.ok : m.bad,
      r.name,
      c.record.status,
      c.policy.status,
      c.policy.mode ?? '-',
      c.errors.length ? [...new Set(c.errors.map((e) => e.code))].join(',') : '-',
      c.policy.mode ? `${matched}/${c.mx.length}` : '-',
      r.description,
    ];
  });
  // Widths from the plain text: the marks may carry colour codes.
  const visible = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
  const widths = header.map((h, i) => Math.max(visible(h).length, ...rows.map((row) => visible(row[i]).length)));
  const format = (cells) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i] - visible(cell).length)))
      .join('  ')
      .trimEnd();

  const out = [
    paint.bold('mtasts demo: `mtasts check` over every scenario of the loopback lab'),
    '',
    paint.bold(format(header)),
    ...rows.map(format),
  ];
  for (const r of results.filter((x) => !x.matches)) out.push(`${m.bad} ${r.name}: ${r.problems.join('; ')}`);
  const good = results.filter((r) => r.matches).length;
  out.push(
    '',
    `${good === results.length ? m.ok : m.bad} ${good} of ${results.length} scenarios behaved as the lab expects` +
      ` (✓ in the first column: status, mode, error code and MX matching as expected)`,
    'every check in full: mtasts demo --json',
  );
  out.push(...renderReportDemo(tlsrpt, { m, paint }));
  out.push('', `${tlsrpt.ok ? m.ok : m.bad} ${tlsrpt.deliveries.filter((d) => d.matches).length} of ${tlsrpt.deliveries.length} deliveries as RFC 8461 §5 says, and a report for each policy domain`, '');
  return out.join('\n');
}
