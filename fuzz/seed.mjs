// Seeds fuzz/corpus/<target>/ from the vector tables (tests/vectors/*.json) and the test PKI, one file
// per input, named by the SHA-1 of its content (the names libFuzzer gives its own finds). Run again
// after a vector table changes; existing files stay. `node fuzz/seed.mjs`
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;
const vectors = (name) => JSON.parse(readFileSync(join(ROOT, 'tests/vectors', name), 'utf8'));
const corpus = {};
const add = (target, data) => (corpus[target] ??= []).push(Buffer.isBuffer(data) ? data : Buffer.from(String(data), 'utf8'));

for (const v of vectors('record.json')) add('record', v.input);
for (const v of vectors('select.json')) add('record', v.input.map((r) => r.join('\0')).join('\n'));
for (const v of vectors('policy.json')) add('policy', v.input);
for (const f of readdirSync(join(ROOT, 'tests/vectors/examples'))) add('policy', readFileSync(join(ROOT, 'tests/vectors/examples', f)));
for (const v of vectors('mx.json')) for (const p of v.patterns) add('mx', `${p}\n${v.host}`);
const tr = vectors('tlsrpt-record.json');
for (const v of tr.records) add('tlsrpt_record', v.input);
for (const v of tr.select) add('tlsrpt_record', v.input.map((r) => r.join('\0')).join('\n'));
for (const v of vectors('tlsrpt-report-read.json')) add('tlsrpt_report', typeof v.report === 'string' ? v.report : JSON.stringify(v.report));
add('tlsrpt_report', readFileSync(join(ROOT, 'tests/vectors/tlsrpt-mail/provider-shaped.json')));

// SMTP replies: the chunk-length prefix (two bytes) before each chunk, as checks.rs's Bytes reads it.
const chunked = (...chunks) => Buffer.concat(chunks.flatMap((c) => [Buffer.from([c.length >> 8, c.length & 255]), Buffer.from(c)]));
for (const r of ['220 mx ESMTP\r\n', '250-mx\r\n250-SIZE 1000\r\n250 STARTTLS\r\n', '250 x\r\n250-y\r\n', '354 go\r\n', '421 4.3.2 bye\r\n', '2', '50 ok\r\n', '220-a\r\n220 b\r\n']) add('smtp_reply', chunked(r));
add('smtp_reply', chunked('250-', 'mx\r\n250 ', 'OK\r\n'));
// The client: op byte (0 command, 1 data, 2 close), then its arguments.
const op = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : p)));
add('smtp_client', op(1, chunked('220 mx\r\n'), 0, 0, chunked('relay.example.org'), 1, chunked('250-mx\r\n250 PIPELINING\r\n'), 0, 1, chunked('<a@b>'), 1, chunked('250 ok\r\n')));
add('smtp_client', op(0, 3, chunked(''), 1, chunked('250 accepted\r\n'), 2));
// The machines read decisions byte by byte: seeds that walk a good path, plus plain variety.
add('discovery', Buffer.from([1, 0, 0, 0, 1, 0, 0, 20, ...Buffer.from('v=STSv1; id=new1'), 3, 0, 0, 0, 0, 60, ...Buffer.from('version: STSv1\nmode: testing\nmx: *.example.com\nmax_age: 86400\n')]));
add('discovery', Buffer.from([0, 0, 0, 2, 0, 5, 1]));
add('delivery', Buffer.from([0, 10, 10, 1, 1, 0, 0, 2, 0, 2, 0, 1, 0, 4, 0, 6, 0, 0, 6, 0, 1, 0, 6, 0, 2, 0, 10, 0, 0]));
add('delivery', Buffer.from([1, 200, 200, 1, 1, 0, 0, 1, 0, 0, 2, 1, 0, 5, 0, 9]));
add('cert', Buffer.from([0, 0, 0]));
add('cert', Buffer.from([1, 0, 1]));
add('cert', Buffer.from([0, 1, 0, 1, 2, 0, 7, 0]));
// Socketmap netstrings: the limit selector byte, then chunks as for SMTP replies.
const ns = (s) => `${Buffer.byteLength(s)}:${s},`;
add('socketmap', op(0, chunked(ns('tls-policy example.com'))));
add('socketmap', op(0, chunked(ns('tls-policy [mx.example.com]:587') + ns('tls-policy .example.com'), ns('z [192.0.2.1]'))));
add('socketmap', op(0, chunked('2', '3:tls-policy Example.COM.,', '0:,')));
add('socketmap', op(3, chunked(ns('a b'), '007:abc def,', '12345678901:')));
add('socketmap', op(0, chunked(ns('tls-policy bücher.example'), '5:abcde;')));

for (const [target, inputs] of Object.entries(corpus)) {
  const dir = join(ROOT, 'fuzz/corpus', target);
  mkdirSync(dir, { recursive: true });
  for (const data of inputs) writeFileSync(join(dir, createHash('sha1').update(data).digest('hex')), data);
  console.log(`${target}: ${inputs.length} seeds`);
}
