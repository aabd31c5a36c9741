// The configuration of `mtasts socketmap` (YAML: our keys and postfix-mta-sts-resolver's
// mta-sts-daemon.yml keys), the CLI process (listens, answers, SIGTERM exits 0), and
// `mtasts query` against the lab. Run: scripts/build && node --test tests/js/socketmap-cli.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, CLI, assertBuilt } from './built-package.mjs';

assertBuilt();
const load = (p) => import(pathToFileURL(join(PKG, p)));
const { startLab } = await load('js/lab/index.js');
const { readSocketmapConfig, resolveSocketmapConfig } = await load('js/socketmap/config.js');

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mtasts-socketmap-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const yamlFile = (name, text) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('config', () => {
  test("postfix-mta-sts-resolver's mta-sts-daemon.yml is read as it is", () => {
    const file = yamlFile(
      'mta-sts-daemon.yml',
      `host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
  type: internal
  options:
    cache_size: 10000
proactive_policy_fetching:
  enabled: true
  interval: 86400
  concurrency_limit: 100
  grace_ratio: 2.0
default_zone:
  strict_testing: false
  timeout: 4
zones:
  myzone:
    strict_testing: true
    timeout: 4
    require_sni: true
    tlsrpt: true
`,
    );
    const c = resolveSocketmapConfig(readSocketmapConfig(file));
    assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 8461 }]);
    assert.equal(c.store, 'memory');
    assert.equal(c.refreshInterval, 86400);
    assert.equal(c.shutdownTimeout, 20000);
    assert.deepEqual(c.defaultZone, { strictTesting: false, stsAttributes: false, timeout: 4000 });
    assert.deepEqual(c.zones.myzone, { strictTesting: true, stsAttributes: true, timeout: 4000 });
    assert.equal(c.notes.length, 3, c.notes.join('\n')); // reuse_port, concurrency_limit, grace_ratio
  });

  test('unix socket path with an octal mode (YAML 1.1, as PyYAML reads it), redis cache, cache_grace', () => {
    const file = yamlFile('unix.yml', 'path: /run/mta-sts.sock\nmode: 0666\ncache_grace: 60\ncache:\n  type: redis\n  options:\n    address: redis://127.0.0.1/0\nproactive_policy_fetching:\n  enabled: false\n');
    const c = resolveSocketmapConfig(readSocketmapConfig(file));
    assert.deepEqual(c.listen, [{ path: '/run/mta-sts.sock', mode: 0o666 }]);
    assert.equal(c.store, 'redis://127.0.0.1/0');
    assert.equal(c.recheckAfter, 60);
    assert.equal(c.refreshInterval, 0);
  });

  test('cache type redis takes every store URL form (Sentinel, Cluster, TLS)', () => {
    for (const address of ['redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0', 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001', 'rediss://redis.example.org:6380/0?ca=/etc/ssl/redis-ca.pem']) {
      const file = yamlFile('forms.yml', `cache:\n  type: redis\n  options:\n    address: "${address}"\n`);
      assert.equal(resolveSocketmapConfig(readSocketmapConfig(file)).store, address);
    }
  });

  test('our keys, and flags over the file', () => {
    const file = yamlFile('ours.yml', 'listen: ["127.0.0.1:9461", "[::1]:9461", "unix:/run/m.sock"]\nsocket_mode: "0660"\nstore: memory\nanswer_ttl: 5\nmetrics: 127.0.0.1:9464\nzones:\n  p310:\n    postfix_sts_attributes: true\n');
    const c = resolveSocketmapConfig(readSocketmapConfig(file), { listen: ['127.0.0.1:1234'], answerTtl: '7' });
    assert.deepEqual(c.listen, [{ host: '127.0.0.1', port: 1234 }]);
    assert.equal(c.answerTtl, 7);
    assert.deepEqual(c.metrics, { host: '127.0.0.1', port: 9464 });
    assert.equal(c.zones.p310.stsAttributes, true);
    const f = resolveSocketmapConfig(readSocketmapConfig(file));
    assert.deepEqual(f.listen, [{ host: '127.0.0.1', port: 9461 }, { host: '::1', port: 9461 }, { path: '/run/m.sock', mode: 0o660 }]);
  });

  test('mistakes are config-invalid with the key named', () => {
    // (yaml, what the message names)
    const cases = [
      ['prot: 8461\n', /unknown key "prot"/],
      ['port: eighty\n', /port needs a whole number/],
      ['zones:\n  z:\n    strict: true\n', /zones\.z: unknown key "strict"/],
      ['default_zone:\n  timeout: -1\n', /default_zone\.timeout/],
      ['cache:\n  type: sqlite\n', /cache type "sqlite" is not supported/],
      ['cache:\n  type: redis\n', /cache\.options\.address needs a redis:\/\/, rediss:\/\/, redis\+sentinel/],
      ['listen: ["localhost"]\n', /listen needs HOST:PORT/],
      ['listen: ["unix:relative.sock"]\n', /absolute path/],
      ['mode: 999\npath: /x.sock\n', /mode needs a file mode/],
      ['log_level: loud\n', /log_level must be one of/],
      ['- a\n- b\n', /must hold a mapping/],
      ['a: [\n', /is not YAML/],
    ];
    for (const [text, message] of cases) {
      const file = yamlFile('bad.yml', text);
      assert.throws(() => resolveSocketmapConfig(readSocketmapConfig(file)), (err) => err.code === 'config-invalid' && message.test(err.message), text);
    }
  });
});

describe('the CLI on the lab', () => {
  let lab;
  let ca;
  before(async () => {
    lab = await startLab();
    ca = join(dir, 'ca.pem');
    writeFileSync(ca, lab.caPem);
  });
  after(async () => lab?.stop());
  const labFlags = () => ['--dns-server', lab.dns.server, '--ca-file', ca, '--policy-port', String(lab.policyPort), '--store', 'memory'];

  const run = (args) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (status) => resolve({ status, stdout, stderr }));
    });

  test('mtasts query: the reply and why, as text and JSON', async () => {
    const text = await run(['query', ...labFlags(), 'enforce-valid.test']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^postfix enforce-valid\.test → OK secure match=mx1\.enforce-valid\.test:mx2\.enforce-valid\.test servername=hostname$/m);
    assert.match(text.stdout, /policy +found \(network\): mode enforce, id 20240101T000000/);
    assert.match(text.stdout, /why +enforce policy: the MX certificate must be valid for mx1\.enforce-valid\.test, mx2\.enforce-valid\.test/);

    const testing = await run(['query', ...labFlags(), '--json', 'testing-valid.test']);
    const j = JSON.parse(testing.stdout);
    assert.equal(j.answer.reply, 'NOTFOUND ');
    assert.equal(j.answer.mode, 'testing');
    assert.equal(j.policy.status, 'found');

    const strict = yamlFile('strict.yml', 'zones:\n  strict:\n    strict_testing: true\n');
    const s = JSON.parse((await run(['query', ...labFlags(), '--config', strict, '--map', 'strict', '--json', 'testing-valid.test'])).stdout);
    assert.equal(s.answer.reply, 'OK secure match=mx1.testing-valid.test:mx2.testing-valid.test servername=hostname');
    assert.equal(s.mx.kind, 'records', 'the wildcard needed the MX hosts');

    const broken = await run(['query', ...labFlags(), 'policy-500.test']);
    assert.equal(broken.status, 0);
    assert.match(broken.stdout, /→ NOTFOUND $/m);
    assert.match(broken.stdout, /! policy-http-status/);

    lab.update('long-record', {
      policy: { status: 200, contentType: 'text/plain', body: 'version: STSv1\nmode: enforce\nmx: *.long-record.test\nmax_age: 86400\n' },
      mx: [{ priority: 10, host: 'a.b.long-record.test' }],
    });
    try {
      const deep = await run(['query', ...labFlags(), 'long-record.test']);
      assert.equal(deep.status, 1, 'TEMP is exit status 1');
      assert.match(deep.stdout, /→ TEMP no MX host of long-record\.test matches its enforce policy/);
      assert.match(deep.stdout, /MX +a\.b\.long-record\.test\. \(10\)|MX +a\.b\.long-record\.test \(10\)/);
    } finally {
      lab.reset('long-record');
    }

    const literal = await run(['query', ...labFlags(), '[192.0.2.1]:25']);
    assert.match(literal.stdout, /→ NOTFOUND .*\n.*why +an address literal/);
  });

  test('mtasts socketmap: listens, answers, exits 0 on SIGTERM; a bad config is exit 2 with one line', async () => {
    const child = spawn(process.execPath, [CLI, 'socketmap', '--listen', '127.0.0.1:0', ...labFlags(), '--refresh-interval', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    let port;
    while (!port) {
      await once(child.stdout, 'data');
      const line = out.split('\n').find((l) => l.includes('socketmap-listening'));
      if (line) port = JSON.parse(line).addresses[0].port;
    }
    const socket = net.connect(port, '127.0.0.1');
    socket.write('26:postfix enforce-valid.test,');
    const [reply] = await once(socket, 'data');
    assert.equal(reply.toString(), '81:OK secure match=mx1.enforce-valid.test:mx2.enforce-valid.test servername=hostname,');
    socket.end();
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);

    const bad = yamlFile('bad.yml', 'port: eighty\n');
    const r = spawnSync(process.execPath, [CLI, 'socketmap', '--config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'mtasts: port needs a whole number from 0 to 65535, found "eighty"\n');
  });
});
