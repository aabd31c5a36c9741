// Type examples of `mtasts/lab` (lab.d.ts), checked by tsc --strict.

import { startLab, startLabMx, scenarios, scenarioNamed, policyText, startWorld, WORLD_KINDS } from 'mtasts/lab';
import type { Lab, LabScenario, LabMxBehaviour } from 'mtasts/lab';
import { resolvePolicy } from 'mtasts';

const lab: Lab = await startLab({ host: '127.0.0.1' });
const hosts = { dnsServers: [lab.dns.server], ca: lab.caPem, policyPort: lab.policyPort };
const r = await resolvePolicy('enforce-valid.test', hosts);
void r.status;
const s: LabScenario | undefined = scenarioNamed('enforce-valid');
if (s === undefined) throw new Error('no such scenario');
void [s.expect.status, s.mx[0].host, scenarios.length, policyText({ mode: 'enforce', mx: ['mx.example.test'] })];
const behaviour: LabMxBehaviour = 'expired';
const mx = await startLabMx(lab, { behaviours: { 'enforce-valid.test': behaviour } });
mx.behave('testing-valid.test', 'untrusted');
void mx.messages.map((m) => [m.from, m.to, m.secure]);
// @ts-expect-error not a behaviour of the lab MX
mx.behave('x.test', 'slow');
lab.update('enforce-valid', { txt: [] });
// @ts-expect-error `description` is not a field update changes
lab.update('enforce-valid', { description: 'x' });
const cert = lab.issueCert({ names: ['mx1.example.test'], ca: 'untrusted' });
void cert.certDer.byteLength;
await mx.close();
await lab.stop();
const world = await startWorld({ domains: 10, mix: 'all' });
void [world.expected().category, Object.keys(WORLD_KINDS)];
await world.stop();
