// `mtasts lab`: starts the lab (js/lab/: DNS, policy host and an MX for the scenario catalogue) on
// loopback and prints the flags that point check, relay, socketmap and serve at it; `mtasts lab
// world`: a lab world (js/lab/world.js) of N domains, with the domain list, the CA and the expected
// counts written to a directory, so that `mtasts survey` (or any other tool) can be pointed at it.
// Both run until Ctrl-C.

import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, startLabMx } from '../lab/index.js';
import { startWorld } from '../lab/world.js';
import { integer, parseCommandLine, UsageError } from './usage.js';

export const handlesHelp = true;

export const usage = `usage: mtasts lab [--dir DIR]
       mtasts lab world [options]

mtasts lab: starts the lab of MTA-STS scenarios on loopback (127.0.0.1, ephemeral ports): a DNS
server for the zone test., an HTTPS policy host for every mta-sts.<scenario>.test, an MX with
STARTTLS for every MX host, and a CA made at start, written to DIR/ca.pem. It prints the scenarios
and the flags that point \`mtasts check\`, \`relay\`, \`socketmap\` and \`serve\` at it (the MX is
on loopback, so --allow-private is among them), and runs until Ctrl-C.

  --dir DIR         where ca.pem and flags.txt go (default: a new directory under the temp dir)

mtasts lab world: 
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
  if (sub === '--help' || sub === '-h') {
    io.stdout.write(usage);
    return 0;
  }
  if (sub === undefined || sub.startsWith('-')) return runLab(args, io);
  if (sub !== 'world') throw new UsageError(`unknown lab command '${sub}' (lab commands: world; none starts the scenario lab)`);
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
  if (world.smtpPort) flags.push(`--probe --smtp-port ${world.smtpPort} --allow-private`);
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

/** `mtasts lab`: the scenario lab, the flags pointing the CLI at it, until Ctrl-C. */
async function runLab(args, io) {
  const { values } = parseCommandLine(args, { dir: { type: 'string' } });
  if (values.help) {
    io.stdout.write(usage);
    return 0;
  }
  const lab = await startLab();
  let mx = null;
  let noMx = null;
  try {
    mx = await startLabMx(lab);
  } catch (err) {
    // The MX needs the smtp-server package; the DNS and policy scenarios work without it.
    noMx = err.code === 'ERR_MODULE_NOT_FOUND' ? 'no MX (the smtp-server package is not installed)' : `no MX (${err.message})`;
  }
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'mtasts-lab-'));
  mkdirSync(dir, { recursive: true });
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, lab.caPem);
  const base = ['--dns-server', lab.dns.server, '--ca-file', ca, '--policy-port', String(lab.policyPort)];
  const smtp = mx ? ['--smtp-port', String(mx.port), '--allow-private'] : ['--no-probe'];
  const flags = {
    check: [...base, ...smtp, '--store', 'memory'],
    relay: [...base, ...(mx ? ['--smtp-port', String(mx.port), '--allow-private'] : []), '--store', 'memory'],
    socketmap: [...base, '--store', 'memory'],
    serve: [...base, ...(mx ? ['--smtp-port', String(mx.port)] : []), '--allow-private'],
  };
  // One line per command, `<command> <flags>`: for a person to copy, for a script to read.
  writeFileSync(join(dir, 'flags.txt'), Object.entries(flags).map(([c, f]) => `${c} ${f.join(' ')}\n`).join(''));
  const domains = lab.scenarios.map((s) => s.domain);
  io.stdout.write(
    [
      `lab: ${domains.length} scenarios on ${lab.host} (DNS ${lab.dns.server}, policy host port ${lab.policyPort}, ${mx ? `MX port ${mx.port}` : noMx}); files in ${dir}`,
      `scenarios: ${domains.join(' ')}`,
      '',
      ...Object.entries(flags).map(([c, f]) => `${c}: mtasts ${c}${c === 'check' ? ' enforce-valid.test' : ''} ${f.join(' ')}`),
      '',
      'Ctrl-C stops the lab',
      '',
    ].join('\n'),
  );
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await mx?.close();
  await lab.stop();
  return 0;
}
