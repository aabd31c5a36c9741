// A separate process resolving one domain against the lab with a file store (store-share.test.mjs
// starts several). Arguments come in the environment:
//   MTASTS_PKG (path of pkg/), LAB_DNS (host:port), LAB_CA (PEM file), LAB_POLICY_PORT, STORE_DIR, DOMAIN
// Prints one JSON line: { status, id, errors, entry } where entry is what the store holds afterwards.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const { createPolicyResolver, fileStore } = await import(pathToFileURL(join(env.MTASTS_PKG, 'js/node/index.js')));
const store = fileStore(env.STORE_DIR);
const resolver = createPolicyResolver({
  dnsServers: [env.LAB_DNS],
  ca: readFileSync(env.LAB_CA, 'utf8'),
  policyPort: Number(env.LAB_POLICY_PORT),
  timeout: 10000,
  dnsTimeout: 2000,
  store,
});
const result = await resolver.resolve(env.DOMAIN);
const entry = await store.get(env.DOMAIN);
process.stdout.write(`${JSON.stringify({ status: result.status, id: result.id, errors: result.errors, entry })}\n`);
