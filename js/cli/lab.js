// `mtasts lab world`: starts a lab world (js/lab/world.js) of N domains on loopback and keeps it
// up until Ctrl-C, with the domain list, the CA and the expected counts written to a directory, so
// that `mtasts survey` (or any other tool) can be pointed at it.

import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorld } from '../lab/world.js';
import { integer, parseCommandLine, UsageError } from './usage.js';

export const handlesHelp = true;

export const usage = `usage: mtasts lab world [options]

Starts a world of many MTA-STS domains on loopback: one DNS server, one HTTPS policy host for
every mta-sts.<domain>, one STARTTLS MX for every MX host, and a CA made at start. Writes
domains.txt, ca.pem and expected.json (the counts a survey must find) to --dir, prints the
flags that point \`mtasts survey\` at it, and runs until Ctrl-C. Only 127.0.0.1/127.0.0.2 are used.

options:
  --domains N       how many domains (default 1000; seed-table has 102)
  --mix MIX         seed-table (the original study: 102 providers, 9 with records in testing
                    mode, 2 with a non-MTA-STS TXT), all (every kind in turn), random (seeded),
                    or kind=weight,... (kinds in js/lab/world.js KINDS)  (default random)
  --seed N          the shuffle of the domains (default 1)
  --no-probe        no MX (and the probe-only kinds count as valid)
  --dir DIR         where the files go (default: a new directory under the system's temp dir)
  -h, --help        show this help
`;

const OPTIONS = {
  domains: { type: 'string' },
  mix: { type: 'string' },
  seed: { type: 'string' },
  'no-probe': { type: 'boolean' },
  dir: { type: 'string' },
};

export async function run(args, io) {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    io.stdout.write(usage);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'world') throw new UsageError(`unknown lab command '${sub}' (lab commands: world)`);
  const { values } = parseCommandLine(rest, OPTIONS);
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const mix = values.mix ?? 'random';
  const domains = integer(values.domains, '--domains', 1, 10_000_000) ?? (mix === 'seed-table' ? 102 : 1000);
  let world;
  try {
    world = await startWorld({ domains, mix, seed: integer(values.seed, '--seed', 0, 2 ** 32 - 1) ?? 1, probe: !values['no-probe'] });
  } catch (err) {
    if (/^(mix|a world)/.test(err.message)) throw new UsageError(err.message);
    throw err;
  }
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'mtasts-world-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'domains.txt'), world.domains.map((d) => d.domain).join('\n') + '\n');
  writeFileSync(join(dir, 'ca.pem'), world.caPem);
  writeFileSync(join(dir, 'expected.json'), `${JSON.stringify(world.expected(), null, 2)}\n`);
  const flags = [`--dns-server ${world.dns.server}`, `--ca-file ${join(dir, 'ca.pem')}`, `--policy-port ${world.policyPort}`];
  if (world.smtpPort) flags.push(`--probe --smtp-port ${world.smtpPort}`);
  io.stdout.write(
    [
      `lab world: ${world.domains.length} domains (mix ${mix}) on 127.0.0.1; files in ${dir}`,
      `survey it: mtasts survey ${join(dir, 'domains.txt')} ${flags.join(' ')}`,
      'Ctrl-C stops the world',
      '',
    ].join('\n'),
  );
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await world.stop();
  return 0;
}
