// Type examples of the browser entry (`mtasts` under the `default` condition, as bundlers resolve
// it: moduleResolution bundler, no `node` condition), checked by tsc --strict with the DOM lib.

import { init, parsePolicy, lintPolicy, matchMx, verifyCertificate, createDohDns, checkDomain, memoryStore, PolicyResolver, MtaStsError, connectMx, resolvePolicy, fileStore } from 'mtasts';
import type { DnsHost, HttpsHost, MtaStsPolicy } from 'mtasts';

await init(new URL('/assets/mtasts_bg.wasm', location.href));
await init('/assets/mtasts_bg.wasm');
await init(fetch('/assets/mtasts_bg.wasm'));
await init(new Uint8Array(8));
await init(new ArrayBuffer(8));
// @ts-expect-error not a source of the module (a number is not caught here: lib.dom's
// WebAssembly.Module is an empty interface, so anything but null and undefined is one to tsc;
// init() rejects it at run time with invalid-argument)
await init(null);

const policy: MtaStsPolicy = parsePolicy('version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n');
document.body.textContent = `${policy.mode} ${matchMx(policy, 'mx.example.com')} ${lintPolicy('x').diagnostics.length}`;

verifyCertificate([new Uint8Array()], 'mx.example.com', { roots: ['-----BEGIN CERTIFICATE-----'] });
// @ts-expect-error a browser has no trust store to lend: roots are required
verifyCertificate([new Uint8Array()], 'mx.example.com', {});

const dns: DnsHost = createDohDns({ url: 'https://dns.example/dns-query' });
const https: HttpsHost = { get: async (url) => ({ ok: false, kind: 'connect', detail: 'ECONNREFUSED', message: url }) };
void new PolicyResolver({ dns, https, store: memoryStore() });
void checkDomain('example.com', { dns, https, store: memoryStore() });

try {
  parsePolicy('');
} catch (e) {
  if (e instanceof MtaStsError && e.code === 'not-initialized') void e.message;
}

// Node-only functions are type-only exports of the browser entry: calling one fails here, at
// type-check, not in the bundle.
// @ts-expect-error connectMx is Node-only
void connectMx('example.com', { heloName: 'x' });
// @ts-expect-error resolvePolicy is Node-only
void resolvePolicy('example.com');
// @ts-expect-error fileStore is Node-only
void fileStore('/tmp');
