// The CLI's MIME reader (js/cli/mime.js, for RFC 8460 §5.3 report mail) by tables: header fields
// and folding (RFC 5322 §2.2), Content-Type parameters (RFC 2045 §5.1, RFC 2231), multipart
// bodies (RFC 2046 §5.1.1), base64 and quoted-printable (RFC 2045 §6.7, §6.8). The module of the
// built package is tested (it has no wasm in it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, assertBuilt } from './built-package.mjs';

assertBuilt();
const mime = await import(pathToFileURL(join(PKG, 'js', 'cli', 'mime.js')).href);

function code(fn) {
  try {
    fn();
  } catch (err) {
    assert.equal(err.name, 'MimeError', `a MimeError, not ${err}`);
    assert.match(err.code, /^mime-[a-z0-9]+(?:-[a-z0-9]+)*$/);
    return err.code;
  }
  assert.fail('expected a MimeError');
}

test('header fields: unfolding, case, CRLF or LF, mbox From line', { timeout: 60_000 }, () => {
  const cases = [
    // [reason, message, expected headers, expected body]
    ['LF line ends', 'A: 1\nB: 2\n\nbody\n', [['a', '1'], ['b', '2']], 'body\n'],
    ['CRLF line ends', 'A: 1\r\nB: 2\r\n\r\nbody\r\n', [['a', '1'], ['b', '2']], 'body\r\n'],
    ['a folded value is unfolded (line break removed, white space kept)', 'Subject: Report Domain: x\r\n     Submitter: y\r\n\r\n', [['subject', 'Report Domain: x     Submitter: y']], ''],
    ['tab folding', 'Content-Type: multipart/report;\n\tboundary="b"\n\n', [['content-type', 'multipart/report;\tboundary="b"']], ''],
    ['names are lowercased, white space before the colon allowed', 'Content-TYPE : text/plain\n\n', [['content-type', 'text/plain']], ''],
    ['no blank line: all header, no body', 'A: 1\n', [['a', '1']], ''],
    ['a part beginning with a blank line has no header fields', '\nonly body\n', [], 'only body\n'],
    ['an mbox From line is skipped', 'From someone@example Fri Apr  1 00:00:00 2016\nA: 1\n\nb', [['a', '1']], 'b'],
    ['an empty value', 'X-Empty:\n\n', [['x-empty', '']], ''],
  ];
  for (const [reason, text, headers, body] of cases) {
    const got = mime.splitMessage(text);
    assert.deepEqual(got.headers, headers, reason);
    assert.equal(got.body, body, reason);
  }
  assert.equal(code(() => mime.splitMessage('A: 1\nnot a header\n\n')), 'mime-header-invalid', 'a line that is neither a field nor a fold');
});

test('looksLikeMessage: detection by content', { timeout: 60_000 }, () => {
  const cases = [
    ['From: a@example\n', true, 'a header field'],
    ['Received: from x\r\n', true, 'CRLF'],
    ['From a@example Fri Apr  1 00:00:00 2016\nFrom: a\n', true, 'mbox'],
    ['{"organization-name": "x"}', false, 'JSON'],
    ['\x1f\x8b\x08', false, 'gzip'],
    ['just text\n', false, 'no colon'],
    ['', false, 'empty'],
  ];
  for (const [text, expected, reason] of cases) assert.equal(mime.looksLikeMessage(text), expected, reason);
});

test('Content-Type and Content-Disposition parameters', { timeout: 60_000 }, () => {
  const cases = [
    // [reason, value, expected type, expected params]
    ['RFC 8460 §5.3 report type', 'multipart/report; report-type="tlsrpt"; boundary="----=_NextPart_000_024E_01CC9B0A.AFE54C00"', 'multipart/report', { 'report-type': 'tlsrpt', boundary: '----=_NextPart_000_024E_01CC9B0A.AFE54C00' }],
    ['a token value, case of type and names folded', 'Multipart/Mixed; BOUNDARY=abc', 'multipart/mixed', { boundary: 'abc' }],
    ['a quoted boundary with a space and a semicolon', 'multipart/report; boundary="a b;c"; report-type=tlsrpt', 'multipart/report', { boundary: 'a b;c', 'report-type': 'tlsrpt' }],
    ['a quoted-pair inside a quoted string', 'attachment; filename="a\\"b.json.gz"', 'attachment', { filename: 'a"b.json.gz' }],
    ['unfolded white space around', 'application/tlsrpt+gzip ;\tname = "r.json.gz" ', 'application/tlsrpt+gzip', { name: 'r.json.gz' }],
    ['a repeated parameter: the first counts', 'text/plain; charset=us-ascii; charset=utf-8', 'text/plain', { charset: 'us-ascii' }],
    ['RFC 2231 extended value', "attachment; filename*=utf-8''a%21b.json.gz", 'attachment', { 'filename*': "utf-8''a%21b.json.gz", filename: 'a!b.json.gz' }],
    ['no parameters', 'application/tlsrpt+json', 'application/tlsrpt+json', {}],
  ];
  for (const [reason, text, type, params] of cases) {
    const got = mime.parseParameterized(text);
    assert.equal(got.value, type, reason);
    assert.deepEqual({ ...got.params }, params, reason);
  }
});

test('quoted-printable (RFC 2045 §6.7)', { timeout: 60_000 }, () => {
  const cases = [
    ['a soft line break (LF) joins lines', 'abc=\ndef', 'abcdef'],
    ['a soft line break (CRLF) joins lines', '{"a":=\r\n1}', '{"a":1}'],
    ['=XX is a byte, either case', '=3D=3d=E2=80=94', '==\xe2\x80\x94'],
    ['white space at a line end was added in transport', 'a  \r\nb\t\nc ', 'a\r\nb\nc'],
    ['white space before a soft line break is content', 'a =\nb', 'a b'],
    ['white space after a soft line break’s = was added in transport', 'a= \t\r\nb', 'ab'],
    ['a hard line break stays', 'a\r\nb', 'a\r\nb'],
    ['an = not followed by hex is kept', 'a=zzb=4', 'a=zzb=4'],
    ['an = at the very end is a soft line break (the line break before a boundary is the boundary’s)', '{"a":1}=', '{"a":1}'],
    ['white space inside a line stays, however long', `a${' '.repeat(100000)}b`, `a${' '.repeat(100000)}b`],
  ];
  for (const [reason, text, expected] of cases) assert.equal(mime.decodeQuotedPrintable(text), expected, reason);
});

test('base64 (RFC 2045 §6.8)', { timeout: 60_000 }, () => {
  const cases = [
    ['line breaks every 76 characters are ignored', 'aGVs\r\nbG8=\r\n', 'hello'],
    ['characters outside the alphabet are ignored', 'aGVs*bG8', 'hello'],
    ['no padding', 'aGk', 'hi'],
    ['empty', '', ''],
  ];
  for (const [reason, text, expected] of cases) assert.equal(mime.decodeBase64(text), expected, reason);
  assert.equal(code(() => mime.decodeBase64('aGVsb')), 'mime-base64-invalid', 'a single character left over');
  assert.equal(code(() => mime.decodeBase64('aG=Vs')), 'mime-base64-invalid', "'=' before the end");
  assert.equal(code(() => mime.decodeBody('x', 'x-uuencode')), 'mime-encoding-unknown');
  assert.equal(mime.decodeBody('=41', 'Quoted-Printable'), 'A', 'encoding names are case-insensitive');
  assert.equal(mime.decodeBody('=41'), '=41', 'absent is 7bit');
});

test('multipart bodies (RFC 2046 §5.1.1)', { timeout: 60_000 }, () => {
  const cases = [
    ['preamble, two parts, epilogue; the line break before a delimiter is the delimiter’s', 'pre\n--b\nA: 1\n\none\n--b\n\ntwo\n--b--\nepilogue\n', 'b', ['A: 1\n\none', '\ntwo']],
    ['CRLF', '--b\r\n\r\none\r\n--b--\r\n', 'b', ['\r\none']],
    ['transport padding after a delimiter', '--b  \n\none\n--b-- \n', 'b', ['\none']],
    ['a line that only begins with the boundary is content', '--b\n\n--bx\n--b--', 'b', ['\n--bx']],
    ['a boundary with regex characters', '--(a.b)+\n\nx\n--(a.b)+--', '(a.b)+', ['\nx']],
    ['the close delimiter at the very end without a line break', '--b\n\nx\n--b--', 'b', ['\nx']],
  ];
  for (const [reason, body, boundary, parts] of cases) assert.deepEqual(mime.splitMultipart(body, boundary), parts, reason);
  assert.equal(code(() => mime.splitMultipart('--b\n\none\n--b\n\ntwo\n', 'b')), 'mime-final-boundary-missing', 'cut short: no --b-- line');
  assert.equal(code(() => mime.splitMultipart('no delimiter here\n', 'b')), 'mime-boundary-not-found');
  assert.equal(code(() => mime.leafParts('Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n')), 'mime-boundary-missing');
});

test('leafParts: nested multiparts, message/rfc822, file names, bounds', { timeout: 60_000 }, () => {
  const nested = [
    'Content-Type: multipart/mixed; boundary=outer',
    '',
    '--outer',
    'Content-Type: text/plain',
    '',
    'note',
    '--outer',
    'Content-Type: multipart/report; report-type=tlsrpt; boundary="inner"',
    '',
    '--inner',
    'Content-Type: application/tlsrpt+json',
    'Content-Transfer-Encoding: quoted-printable',
    'Content-Disposition: attachment; filename="s!d!1!2.json"',
    '',
    '{"a":=',
    '1}',
    '--inner--',
    '--outer',
    'Content-Type: message/rfc822',
    '',
    'Subject: attached',
    'Content-Type: application/tlsrpt+gzip; name="x.json.gz"',
    'Content-Transfer-Encoding: base64',
    '',
    'aGk=',
    '--outer--',
    '',
  ].join('\n');
  const parts = mime.leafParts(nested);
  assert.deepEqual(
    parts.map((p) => [p.type, p.filename, p.body]),
    [
      ['text/plain', undefined, 'note'],
      ['application/tlsrpt+json', 's!d!1!2.json', '{"a":1}'],
      ['application/tlsrpt+gzip', 'x.json.gz', 'hi'],
    ],
  );
  assert.deepEqual(mime.leafParts('Subject: x\n\nhello').map((p) => p.type), ['text/plain'], 'no Content-Type is text/plain (RFC 2045 §5.2)');

  let deep = 'x';
  for (let i = 0; i < mime.MAX_DEPTH + 2; i++) deep = `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n${deep}\n--b${i}--`;
  assert.equal(code(() => mime.leafParts(deep)), 'mime-too-deep');
  let many = 'Content-Type: multipart/mixed; boundary=b\n\n';
  for (let i = 0; i <= mime.MAX_PARTS; i++) many += '--b\n\nx\n';
  many += '--b--\n';
  assert.equal(code(() => mime.leafParts(many)), 'mime-too-many-parts');
});
