// The lab's scenario catalogue: one entry per MTA-STS situation a sender can meet.
//
// The same data drives the embedded DNS server (dns-server.js), the real dnsmasq and unbound
// configurations (dnsmasq.js, unbound.js) and the HTTPS policy host (policy-host.js), so one test can
// run all three DNS servers over one world.
//
// An entry:
//   name, domain        the scenario name; its policy domain is `<name>.test`
//   description         one line for people (`mtasts demo` prints it)
//   txt                 TXT records at `_mta-sts.<domain>`: an array of records, each an array of
//                       character-strings (RFC 8461 §3.1: the strings of one record are concatenated).
//                       Strings longer than 255 octets are split on the wire by zone.js.
//   txtName             where the TXT records live instead of `_mta-sts.<domain>` (draft-name)
//   dnsFault            'timeout' (never answered) or 'servfail', for the name `_mta-sts.<domain>`
//   policy              what `https://mta-sts.<domain>/.well-known/mta-sts.txt` serves, or null when
//                       `mta-sts.<domain>` does not exist:
//                         { status, contentType, body, location?, stream?, trickle?, cert? }
//                         stream:  { totalBytes } body followed by filler lines, with backpressure
//                         trickle: { intervalMs, totalBytes } one byte per interval after the headers
//                         cert:    { ca: 'lab'|'untrusted', names } (default: lab CA, mta-sts.<domain>)
//   mx                  MX records [{ priority, host }]; every host resolves to 127.0.0.1 and ::1
//   rotations           (id-rotated) the policies lab.rotate() alternates between ({ mode, policy });
//                       rotation n (0 at start) publishes id `rot<n+1>` and rotations[n % length]
//   extraTxt            more TXT records: { name: [records] } (e.g. `_smtp._tls.<domain>`, RFC 8460 §3)
//   expect              what a correct resolver with an empty cache reports:
//                         { status: 'found'|'none'|'temperror', mode?, errorCode?, mxMatch? }
//                       mxMatch maps each MX host to whether it matches the policy (RFC 8461 §4.1).

/** The text of a policy file (RFC 8461 §3.2). `eol` lets a scenario use CRLF. */
export function policyText({ mode, mx, maxAge = 86400, eol = '\n' }) {
  const lines = ['version: STSv1', `mode: ${mode}`, ...mx.map((p) => `mx: ${p}`), `max_age: ${maxAge}`];
  return lines.join(eol) + eol;
}

const ok = (body, contentType = 'text/plain') => ({ status: 200, contentType, body });

/** Two MX hosts inside the scenario domain, both matched by the patterns used below. */
const twoMx = (d) => [
  { priority: 10, host: `mx1.${d}` },
  { priority: 20, host: `mx2.${d}` },
];
const allMatch = (d) => ({ [`mx1.${d}`]: true, [`mx2.${d}`]: true });
const enforcePolicy = (d) => policyText({ mode: 'enforce', mx: [`mx1.${d}`, `mx2.${d}`] });

function scenario(name, description, build) {
  const domain = `${name}.test`;
  const base = {
    name,
    domain,
    description,
    txt: [[`v=STSv1; id=${name.replace(/[^a-z0-9]/g, '').slice(0, 24)}1`]],
    policy: ok(enforcePolicy(domain)),
    mx: twoMx(domain),
  };
  return Object.freeze({ ...base, ...build(domain) });
}

// A record value longer than one 255-octet character-string: an extension (RFC 8461 §3.1
// sts-ext-value) carries the padding.
const LONG_EXTENSION = 'x-pad=' + 'p'.repeat(300);

export const scenarios = Object.freeze([
  scenario('enforce-valid', 'valid record and policy, mode enforce, every MX matches', (d) => ({
    txt: [[`v=STSv1; id=20240101T000000`]],
    expect: { status: 'found', mode: 'enforce', mxMatch: allMatch(d) },
  })),
  scenario('testing-valid', 'valid record and policy (CRLF lines, wildcard mx), mode testing', (d) => ({
    txt: [['v=STSv1; id=testing1']],
    policy: ok(policyText({ mode: 'testing', mx: [`*.${d}`], eol: '\r\n' }), 'text/plain; charset=utf-8'),
    expect: { status: 'found', mode: 'testing', mxMatch: allMatch(d) },
  })),
  scenario('none', 'valid policy in mode none: behave as if there were no policy', (d) => ({
    policy: ok(policyText({ mode: 'none', mx: [`*.${d}`] })),
    expect: { status: 'found', mode: 'none', mxMatch: allMatch(d) },
  })),
  scenario('no-record', 'no TXT record (a policy file exists but must not be fetched)', () => ({
    txt: [],
    expect: { status: 'none' },
  })),
  scenario('record-but-404', 'TXT record present, policy URL answers 404', () => ({
    policy: { status: 404, contentType: 'text/plain', body: 'not found\n' },
    expect: { status: 'none', errorCode: 'policy-http-status' },
  })),
  scenario('multiple-records', 'two v=STSv1 TXT records at _mta-sts', () => ({
    txt: [['v=STSv1; id=first1'], ['v=STSv1; id=second2']],
    expect: { status: 'none', errorCode: 'record-multiple' },
  })),
  scenario('invalid-record', 'v=STSv1 record with an id that is not 1-32 letters and digits', () => ({
    txt: [['v=STSv1; id=bad-id!']],
    expect: { status: 'none', errorCode: 'record-invalid' },
  })),
  scenario('policy-redirect', 'policy URL answers 301 to another (valid) policy', () => ({
    policy: {
      status: 301,
      contentType: 'text/plain',
      body: 'moved\n',
      location: 'https://mta-sts.enforce-valid.test/.well-known/mta-sts.txt',
    },
    expect: { status: 'none', errorCode: 'policy-redirect' },
  })),
  scenario('policy-500', 'policy URL answers 500', () => ({
    policy: { status: 500, contentType: 'text/plain', body: 'internal error\n' },
    expect: { status: 'none', errorCode: 'policy-http-status' },
  })),
  scenario('policy-wrong-content-type', 'valid policy text served as text/html', (d) => ({
    policy: ok(enforcePolicy(d), 'text/html'),
    expect: { status: 'none', errorCode: 'policy-content-type' },
  })),
  scenario('policy-too-large', 'policy body streams 32 MiB (chunked) unless the client stops', (d) => ({
    policy: { ...ok(enforcePolicy(d)), stream: { totalBytes: 32 * 1024 * 1024 } },
    expect: { status: 'none', errorCode: 'policy-too-large' },
  })),
  scenario('policy-slow', 'headers at once, then one body byte every 250 ms for 10 minutes', (d) => ({
    policy: { ...ok(enforcePolicy(d)), trickle: { intervalMs: 250, totalBytes: 2400 } },
    expect: { status: 'none', errorCode: 'policy-fetch-timeout' },
  })),
  scenario('policy-untrusted-cert', 'policy host certificate from a CA the client does not trust', (d) => ({
    policy: { ...ok(enforcePolicy(d)), cert: { ca: 'untrusted', names: [`mta-sts.${d}`] } },
    expect: { status: 'none', errorCode: 'policy-webpki-invalid' },
  })),
  scenario('policy-wrong-name-cert', 'policy host certificate (lab CA) for another name', (d) => ({
    policy: { ...ok(enforcePolicy(d)), cert: { ca: 'lab', names: [`www.${d}`] } },
    expect: { status: 'none', errorCode: 'policy-webpki-invalid' },
  })),
  scenario('policy-invalid-syntax', 'policy with mode "enforcing" and a non-numeric max_age', (d) => ({
    policy: ok(`version: STSv1\nmode: enforcing\nmx: mx1.${d}\nmax_age: forever\n`),
    // RFC 8460 §3: a TLS-RPT record whose rua is no URI (lint: invalid), for the checker page.
    extraTxt: { [`_smtp._tls.${d}`]: [['v=TLSRPTv1; rua=tlsrpt@', d]] },
    expect: { status: 'none', errorCode: 'policy-invalid' },
  })),
  scenario('draft-json-policy', 'pre-RFC JSON policy body (served as text/plain)', (d) => ({
    policy: ok(
      JSON.stringify({ version: 'STSv1', mode: 'enforce', mx: [`*.${d}`], max_age: 86400 }) + '\n',
    ),
    expect: { status: 'none', errorCode: 'policy-invalid' },
  })),
  scenario('mx-not-in-policy', 'valid enforce policy, but one MX host is not listed in it', (d) => ({
    policy: ok(policyText({ mode: 'enforce', mx: [`mx1.${d}`] })),
    // RFC 8460 §3: a valid TLS-RPT record, so the owner hears of the failures.
    extraTxt: { [`_smtp._tls.${d}`]: [[`v=TLSRPTv1; rua=mailto:tlsrpt@${d}`]] },
    mx: [
      { priority: 10, host: `mx1.${d}` },
      { priority: 20, host: `backup.${d}` },
    ],
    expect: { status: 'found', mode: 'enforce', mxMatch: { [`mx1.${d}`]: true, [`backup.${d}`]: false } },
  })),
  scenario('dns-timeout', 'the TXT query at _mta-sts is never answered', () => ({
    dnsFault: 'timeout',
    expect: { status: 'temperror', errorCode: 'dns-temporary' },
  })),
  scenario('servfail', 'the TXT query at _mta-sts answers SERVFAIL', () => ({
    dnsFault: 'servfail',
    expect: { status: 'temperror', errorCode: 'dns-temporary' },
  })),
  scenario('id-rotated', 'lab.rotate() changes the TXT id and the policy (testing → enforce → …)', (d) => {
    const rotations = [
      { mode: 'testing', policy: ok(policyText({ mode: 'testing', mx: [`*.${d}`], maxAge: 86400 })) },
      { mode: 'enforce', policy: ok(policyText({ mode: 'enforce', mx: [`*.${d}`], maxAge: 604800 })) },
    ];
    return {
      txt: [['v=STSv1; id=rot1']],
      policy: rotations[0].policy,
      rotations,
      expect: { status: 'found', mode: 'testing', mxMatch: allMatch(d) },
    };
  }),
  scenario('split-record', 'one TXT record in two strings "v=STSv1; " "id=split1"', (d) => ({
    txt: [['v=STSv1; ', 'id=split1']],
    expect: { status: 'found', mode: 'enforce', mxMatch: allMatch(d) },
  })),
  scenario('long-record', 'one TXT string over 255 octets (an extension), split on the wire', (d) => ({
    txt: [[`v=STSv1; id=long1; ${LONG_EXTENSION}`]],
    expect: { status: 'found', mode: 'enforce', mxMatch: allMatch(d) },
  })),
  scenario('draft-name', 'record only at the draft-era name _mta_sts (underscore)', (d) => ({
    txtName: `_mta_sts.${d}`,
    expect: { status: 'none' },
  })),
  scenario('policy-host-missing', 'TXT record present, mta-sts.<domain> does not exist', () => ({
    policy: null,
    expect: { status: 'none', errorCode: 'policy-fetch-error' },
  })),
]);

/** The catalogue entry called `name`, or undefined. */
export function scenarioNamed(name) {
  return scenarios.find((s) => s.name === name);
}
