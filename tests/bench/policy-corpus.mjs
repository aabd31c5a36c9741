// A generated corpus of MTA-STS policy files (RFC 8461 §3.2) and of MX host names to match against
// them (§4.1), shaped like the policies published in the wild: 1-10 mx lines (mostly 1-3), hosted
// providers and self-hosted MX, wildcards, LF or CRLF, a few extension keys, keys in varying order,
// sometimes no terminator on the last line. Deterministic: one seed gives one corpus.
//
// Also a small table of edge cases (invalid or unusual inputs, each with a reason) used to compare
// the verdicts of mtasts and mailauth.

/** mulberry32: a tiny seeded PRNG, so every run benchmarks the same corpus. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell', 'cyberdyne',
  'soylent', 'wonka', 'gringotts', 'monarch', 'oscorp', 'vandelay', 'dunder', 'pied', 'piper', 'aperture',
  'black-mesa', 'nakatomi', 'bluth', 'prestige', 'sirius', 'zorg', 'kwik-e', 'mart', 'duff', 'vehement'];
const TLDS = ['com', 'net', 'org', 'de', 'fr', 'co.uk', 'com.au', 'nl', 'io', 'ch', 'se', 'org.uk'];

/** Hosted mail providers: how their customers' policies list MX (exact names and wildcards). */
const PROVIDERS = [
  (d) => [`${d.replace(/\./g, '-')}.mail.protection.outlook.com`, '*.mail.protection.outlook.com'],
  () => ['aspmx.l.google.com', 'alt1.aspmx.l.google.com', 'alt2.aspmx.l.google.com', 'alt3.aspmx.l.google.com',
    'alt4.aspmx.l.google.com', '*.aspmx.l.google.com'],
  (d, r) => [`mx${1 + Math.floor(r() * 9)}-us1.ppe-hosted.com`, '*.ppe-hosted.com', `mx0a-00${Math.floor(r() * 9e5)}.pphosted.com`],
  () => ['eu-smtp-inbound-1.mimecast.com', 'eu-smtp-inbound-2.mimecast.com', '*.mimecast.com'],
  () => ['cluster1.eu.messagelabs.com', 'cluster1a.eu.messagelabs.com', '*.messagelabs.com'],
  () => ['mx1.mail.ovh.net', 'mx2.mail.ovh.net', 'mx3.mail.ovh.net', '*.mail.ovh.net'],
  (d) => [`mx1.${d}`, `mx2.${d}`, `mail.${d}`, `smtp.${d}`, `*.${d}`, `mx.${d}`, `in1.smtp.${d}`, `in2.smtp.${d}`],
];

const pick = (r, list) => list[Math.floor(r() * list.length)];

function domainName(r, i) {
  return `${pick(r, WORDS)}${r() < 0.5 ? '-' + pick(r, WORDS) : ''}${i}.${pick(r, TLDS)}`;
}

function mxCount(r) {
  // Most real policies list 1-3 MX patterns; a few list many.
  const x = r();
  if (x < 0.35) return 1;
  if (x < 0.65) return 2;
  if (x < 0.82) return 3;
  return 4 + Math.floor(r() * 7); // 4..10
}

/** A host matched by `pattern` (RFC 8461 §4.1: `*` stands for exactly one label). */
function hostMatching(r, pattern) {
  return pattern.startsWith('*.') ? `${pick(r, ['mx1', 'mx2', 'inbound', 'relay7', 'a'])}${pattern.slice(1)}` : pattern;
}

/**
 * @param {object} [options]
 * @param {number} [options.count] number of policies (default 1000)
 * @param {number} [options.seed]
 * @returns {Array<{ text: string, domain: string, mode: string, maxAge: number, mx: string[], hosts: string[], expect: boolean[] }>}
 *   each policy with three MX hosts to match and whether RFC 8461 §4.1 says each matches
 */
export function makeCorpus({ count = 1000, seed = 8461 } = {}) {
  const r = seededRandom(seed);
  const corpus = [];
  for (let i = 0; i < count; i++) {
    const domain = domainName(r, i);
    const x = r();
    const mode = x < 0.55 ? 'enforce' : x < 0.9 ? 'testing' : 'none';
    const maxAge = pick(r, [86400, 604800, 1209600, 2592000, 31557600, 31536000, 1814400, 5184000]);
    const candidates = pick(r, PROVIDERS)(domain, r);
    const n = Math.min(mxCount(r), 10);
    const mx = [];
    for (let k = 0; k < n; k++) {
      // Distinct patterns; when the provider's list runs out, self-hosted names fill up.
      const p = k < candidates.length ? candidates[k] : `mx${k + 1}.${domain}`;
      if (!mx.includes(p)) mx.push(p);
    }
    const lines = [`mx: ${mx[0]}`];
    for (const p of mx.slice(1)) lines.push(`mx: ${p}`);
    const head = ['version: STSv1', `mode: ${mode}`];
    const age = `max_age: ${maxAge}`;
    // Key order varies in the wild (§3.2 fixes none, only that version comes first by convention).
    const body = r() < 0.7 ? [...head, ...lines, age] : [...head, age, ...lines];
    if (r() < 0.06) body.push(`x-contact: postmaster-${i}`);
    if (r() < 0.03) body.push('x-vendor-rev: 2024-05-01');
    const eol = r() < 0.4 ? '\r\n' : '\n';
    // Interop: some publishers leave the last line without a terminator.
    const text = body.join(eol) + (r() < 0.04 ? '' : eol);

    const matchPattern = pick(r, mx);
    const wildcard = mx.find((p) => p.startsWith('*.'));
    const hosts = [
      hostMatching(r, matchPattern),
      `mx.${pick(r, WORDS)}-elsewhere.example`,
      wildcard ? hostMatching(r, wildcard) : `backup.${mx[0]}`,
    ];
    const expect = [true, false, Boolean(wildcard)];
    corpus.push({ text, domain, mode, maxAge, mx, hosts, expect });
  }
  return corpus;
}

const P = (...lines) => lines.join('\n') + '\n';

/**
 * Edge cases for the verdict comparison: [name, policy text, valid under RFC 8461 §3.2?, reason].
 * Not part of the timed corpus.
 */
export const EDGE_POLICIES = [
  ['minimal', P('version: STSv1', 'mode: enforce', 'mx: mx.example.com', 'max_age: 86400'), true, 'baseline'],
  ['mode-none-no-mx', P('version: STSv1', 'mode: none', 'max_age: 86400'), true, '§3.2: mx may be absent when mode is none'],
  ['max-age-max', P('version: STSv1', 'mode: testing', 'mx: a.example', 'max_age: 31557600'), true, '§3.2: 31557600 is the maximum'],
  ['unknown-key', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: 86400', 'foo: bar'), true, '§3.2: unknown keys are ignored'],
  ['mode-report', P('version: STSv1', 'mode: report', 'mx: a.example', 'max_age: 86400'), false, 'draft-era mode, now "testing"'],
  ['mode-uppercase', P('version: STSv1', 'mode: Enforce', 'mx: a.example', 'max_age: 86400'), false, '§3.2: mode values are case-sensitive'],
  ['version-lowercase', P('version: stsv1', 'mode: enforce', 'mx: a.example', 'max_age: 86400'), false, '§3.2: "STSv1" exactly'],
  ['max-age-plus', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: +86400'), false, '§3.2: max_age is 1*10DIGIT, no sign'],
  ['max-age-exponent', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: 1e5'), false, '§3.2: no exponent'],
  ['max-age-hex', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: 0x15180'), false, '§3.2: digits only'],
  ['max-age-underscore', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: 86_400'), false, '§3.2: digits only'],
  ['max-age-over', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: 31557601'), false, '§3.2: at most 31557600'],
  ['max-age-11-digits', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age: 00000086400'), false, '§3.2: 1-10 digits'],
  ['max-age-missing', P('version: STSv1', 'mode: enforce', 'mx: a.example'), false, '§3.2: max_age is required'],
  ['max-age-empty', P('version: STSv1', 'mode: enforce', 'mx: a.example', 'max_age:'), false, '§3.2: max_age is required'],
  ['version-missing', P('mode: enforce', 'mx: a.example', 'max_age: 86400'), false, '§3.2: version is required'],
  ['mode-missing', P('version: STSv1', 'mx: a.example', 'max_age: 86400'), false, '§3.2: mode is required'],
  ['enforce-no-mx', P('version: STSv1', 'mode: enforce', 'max_age: 86400'), false, '§3.2: mx required unless mode none'],
  ['mx-wildcard-middle', P('version: STSv1', 'mode: enforce', 'mx: mx.*.example', 'max_age: 86400'), false, '§3.2: * only as the left-most label'],
  ['mx-bare-wildcard', P('version: STSv1', 'mode: enforce', 'mx: *', 'max_age: 86400'), false, '§3.2: "*." then a domain'],
  ['mx-u-label', P('version: STSv1', 'mode: enforce', 'mx: mx.bücher.example', 'max_age: 86400'), false, '§3.2: A-labels only'],
  ['mx-with-port', P('version: STSv1', 'mode: enforce', 'mx: mx.example.com:25', 'max_age: 86400'), false, '§3.2: a domain, not host:port'],
  ['mx-ip', P('version: STSv1', 'mode: enforce', 'mx: [192.0.2.1]', 'max_age: 86400'), false, '§3.2: a domain, not an address literal'],
  ['mx-empty', P('version: STSv1', 'mode: enforce', 'mx:', 'max_age: 86400'), false, '§3.2: empty mx'],
  ['bare-cr', 'version: STSv1\rmode: enforce\rmx: a.example\rmax_age: 86400\r', false, '§3.2: a bare CR is not a line terminator'],
  ['json-draft', '{"version":"STSv1","mode":"enforce","mx":["a.example"],"max_age":86400}', false, 'pre-RFC JSON policy'],
  ['duplicate-mode', P('version: STSv1', 'mode: testing', 'mode: enforce', 'mx: a.example', 'max_age: 86400'), true, '§3.2: first occurrence counts (testing)'],
  ['key-uppercase', P('VERSION: STSv1', 'MODE: enforce', 'MX: a.example', 'MAX_AGE: 86400'), false, '§3.2: keys are case-sensitive literals'],
  ['no-space-after-colon', P('version:STSv1', 'mode:enforce', 'mx:a.example', 'max_age:86400'), true, '§3.2: *WSP after ":"'],
  ['empty', '', false, 'nothing'],
  ['html', '<html><body>Not Found</body></html>\n', false, 'an error page served with 200'],
];

/**
 * Host matching edge cases: [name, patterns, host, matches under RFC 8461 §4.1?, reason].
 */
export const EDGE_MATCHES = [
  ['exact', ['mx.example.com'], 'mx.example.com', true, 'identical'],
  ['case', ['mx.example.com'], 'MX.Example.COM', true, '§4.1: case-insensitive'],
  ['trailing-dot', ['mx.example.com'], 'mx.example.com.', true, 'absolute name from DNS'],
  ['wildcard-one-label', ['*.example.com'], 'mx.example.com', true, '§4.1: * matches one label'],
  ['wildcard-two-labels', ['*.example.com'], 'a.mx.example.com', false, '§4.1: * matches exactly one label'],
  ['wildcard-apex', ['*.example.com'], 'example.com', false, '§4.1: * needs a label'],
  ['wildcard-suffix-only', ['*.example.com'], 'mxexample.com', false, 'no label boundary'],
  ['u-label-host', ['xn--bcher-kva.example'], 'bücher.example', true, 'U-label host vs A-label pattern'],
  ['other-domain', ['mx.example.com'], 'mx.example.net', false, 'different'],
];
