// `mtasts demo survey`: the original study again, on a lab world — 102 mail providers, 9 with an
// MTA-STS record all in testing mode (the study's "report" mode), 2 with a TXT record at _mta-sts
// that is not an MTA-STS record — surveyed by `mtasts survey`'s own loop, printed as the study's
// table, and checked against what the world holds (exit 0 when the counts are the world's).

import { startWorld } from '../lab/world.js';
import { surveySession } from './session.js';
import { renderSummary } from './summary.js';

export async function run(args, io) {
  const world = await startWorld({ mix: 'seed-table', probe: false });
  try {
    const { tally } = await surveySession({
      entries: async function* entries() {
        for (const [i, d] of world.domains.entries()) yield { domain: d.domain, line: i + 1 };
      },
      host: { dnsServers: [world.dns.server], ca: world.caPem, policyPort: world.policyPort, timeout: 3000, dnsTimeout: 1000, rate: 0 },
      probe: false,
      concurrency: 20,
      retries: 0,
    });
    const expected = world.expected();
    const counts = tally.counts();
    const problems = Object.entries(expected.category)
      .filter(([c, n]) => counts.category[c] !== n)
      .map(([c, n]) => `${c}: counted ${counts.category[c] ?? 0}, the world holds ${n}`);
    io.stdout.write('mtasts demo survey: the original study\'s 102 providers on a loopback lab world\n\n');
    io.stdout.write(renderSummary(tally));
    io.stdout.write(
      problems.length === 0
        ? `\n✓ counted what the world holds: ${counts.total} providers, ${counts.hasRecord} with an MTA-STS record (${counts.mode.testing} in testing mode), ${counts.category['record-not-mta-sts']} with a non-MTA-STS TXT at _mta-sts\n`
        : `\n✗ ${problems.join('; ')}\n`,
    );
    return problems.length === 0 ? 0 : 1;
  } finally {
    await world.stop();
  }
}
