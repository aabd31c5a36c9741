// The relay's configuration: defaults, overridden by a JSON config file (`--config FILE`),
// overridden by command-line flags. Everything is checked here, once, so that a mistake stops the
// relay at start with one clear line (code `config-invalid`), never in the middle of a delivery.
//
// Config file keys (all optional; times in seconds, sizes in octets):
//   listen: "127.0.0.1:10025" | [..]     helo: "relay.example.org"     store: "memory" | "file:/dir"
//   allow: ["127.0.0.0/8", "::1/128"]    users: "/etc/mtasts/users"    tlsCert, tlsKey: PEM files
//   maxSize: 52428800                     traceHeader: "MTA-STS-Verify" | false
//   metrics: "127.0.0.1:9464" | null      logLevel: "info"              logFile: "/var/log/mtasts.log"
//   refreshInterval: 900                  maxClients: 500               shutdownTimeout: 600
//   reuseIdle: 5                          journalDays: 5
//   mxAddressLimit: 5                     mxSessionLimit: 2             tlsrptKeepDays: 10
//   timeouts: { connect: 30, reply: 60, tls: 30, delivery: 240, command: 240, dataEnd: 540 }
//   dnsServers: ["127.0.0.1:5353"]        caFile: "lab-ca.pem"          policyPort: 443   smtpPort: 25
//   allowPrivate: false                   (true: dial MX addresses in RFC 6890 special-purpose ranges)
//   tlsrptSend: null | { organization, contact, submitter, smtp: "HOST:PORT", smtpUser,
//                        smtpPassFile, from, dkimKey, dkimSelector, dkimDomain, onlyFailures,
//                        maxDelay: 14400, checkEvery: 300, timeout: 60, retryBase: 300 }
//     the relay sends its own TLS reports (tlsrpt-sender.js); organization and contact needed

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import { MtaStsError } from '../error.js';
import { DEFAULT_ALLOW, createAllowList } from './allow-list.js';
import { LOG_LEVELS } from './log.js';

export const DEFAULTS = Object.freeze({
  listen: ['127.0.0.1:10025'],
  helo: null, // the machine's host name
  store: null, // file store in the user's cache directory
  allow: DEFAULT_ALLOW,
  users: null,
  tlsCert: null,
  tlsKey: null,
  // Spec: above Postfix's default message_size_limit (10240000), so the relay is not the limit.
  maxSize: 52_428_800,
  traceHeader: 'MTA-STS-Verify',
  metrics: null,
  logLevel: 'info',
  logFile: null,
  refreshInterval: 900,
  // Spec: a verified MX connection is kept idle this long for the next message to the same domain
  // (Postfix keeps its cached connections 2 s by default); 0 = a new connection per message.
  reuseIdle: 5,
  maxClients: 500,
  shutdownTimeout: 600,
  // Spec: how long the delivery journal (delivery-journal.js) remembers a delivered message: the
  // local MTA's maximal queue lifetime (Postfix's maximal_queue_lifetime default is 5d), since the
  // local MTA may send a message again for that long.
  journalDays: 5,
  // Per recipient domain (the first RCPT): MX addresses dialled and SMTP sessions held at most, as
  // Postfix's smtp_mx_address_limit / smtp_mx_session_limit (same defaults).
  mxAddressLimit: 5,
  mxSessionLimit: 2,
  // Days of TLS-RPT session records kept (tlsrpt-log.js pruning): enough to build and resend the
  // reports of the last days (RFC 8460 §5.1 reports cover one day; a sender retries for a day).
  tlsrptKeepDays: 10,
  // RFC 5321 §4.5.3.2 gives the client 5 minutes for MAIL/RCPT replies and 10 for the end of DATA;
  // the relay's own limits towards the MX stay below Postfix's smtp_rcpt_timeout (300 s) and
  // smtp_data_done_timeout (600 s), so the local MTA hears the relay's 4xx before it gives up.
  // `delivery` bounds everything the first RCPT of a domain waits for (policy aside: every MX
  // address, dialogue and handshake together), below smtp_rcpt_timeout.
  timeouts: Object.freeze({ connect: 30, reply: 60, tls: 30, delivery: 240, command: 240, dataEnd: 540 }),
  dnsServers: null,
  caFile: null,
  policyPort: null,
  smtpPort: null,
  // RFC 6890: MX addresses in loopback, private, link-local, ... ranges are refused unless true.
  allowPrivate: false,
  tlsrptSend: null,
});

// The relay's own TLS-RPT sender (tlsrpt-sender.js): what `mtasts report send` takes as flags.
const TLSRPT_SEND_DEFAULTS = Object.freeze({
  organization: null,
  contact: null,
  submitter: null, // the helo name
  smtp: null,
  smtpUser: null,
  smtpPassFile: null,
  from: null, // tlsrpt@<submitter>
  dkimKey: null,
  dkimSelector: null,
  dkimDomain: null,
  onlyFailures: false,
  // RFC 8460 §4.1: reports go out after the day ends, "perhaps several hours" later: a random
  // delay of up to 4 hours after 00:00 UTC.
  maxDelay: 14_400,
  checkEvery: 300,
  timeout: 60,
  retryBase: 300,
});

const KEYS = new Set(Object.keys(DEFAULTS));
const TIMEOUT_KEYS = new Set(Object.keys(DEFAULTS.timeouts));

function invalid(message) {
  return new MtaStsError('config-invalid', message);
}

/** Reads a JSON config file; throws `config-invalid`. */
export function readConfigFile(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read config file ${file}: ${err.code ?? err.message}`);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalid(`config file ${file} is not json: ${err.message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(`config file ${file} must hold a json object`);
  for (const key of Object.keys(doc)) {
    if (!KEYS.has(key)) throw invalid(`config file ${file}: unknown key ${JSON.stringify(key)} (keys: ${[...KEYS].join(', ')})`);
  }
  return doc;
}

/** `127.0.0.1:10025`, `[::1]:10025` → { host, port }. */
export function parseHostPort(text, what) {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535) || (m[1].includes(':') && !net.isIPv6(m[1]))) {
    throw invalid(`${what} needs HOST:PORT (127.0.0.1:10025, [::1]:10025), found ${JSON.stringify(text)}`);
  }
  return { host: m[1], port };
}

function seconds(value, what, { min = 1, max = 86_400 } = {}) {
  const n = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
    throw invalid(`${what} needs a number of seconds from ${min} to ${max}, found ${JSON.stringify(value)}`);
  }
  return n;
}

function integer(value, what, min, max) {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${what} needs a whole number from ${min} to ${max}, found ${JSON.stringify(value)}`);
  return n;
}

const list = (v) => (v === null || v === undefined ? v : Array.isArray(v) ? v : [v]);

function flag(value, what) {
  if (typeof value !== 'boolean') throw invalid(`${what} needs true or false, found ${JSON.stringify(value)}`);
  return value;
}

/**
 * Merges defaults, a config file's object and flag values (later wins), and checks it all.
 * Returns the relay configuration (times in milliseconds from here on).
 */
export function resolveConfig(file = {}, flags = {}) {
  const raw = { ...DEFAULTS, ...file };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) raw[k] = v;
  raw.timeouts = { ...DEFAULTS.timeouts, ...(file.timeouts ?? {}), ...(flags.timeouts ?? {}) };

  const listen = list(raw.listen);
  if (!listen || listen.length === 0) throw invalid('listen needs at least one HOST:PORT');
  const helo = raw.helo ?? hostname();
  if (typeof helo !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(helo)) {
    throw invalid(`helo needs a host name (relay.example.org), found ${JSON.stringify(helo)}`);
  }
  if (raw.store !== null && !(raw.store === 'memory' || (typeof raw.store === 'string' && /^(file:|rediss?:\/\/).+/i.test(raw.store)))) {
    throw invalid(`store must be memory or file:DIR, or redis://HOST[:PORT][/DB], found ${JSON.stringify(raw.store)}`);
  }
  const allow = list(raw.allow);
  createAllowList(allow); // throws invalid-argument on a bad network
  if ((raw.tlsCert === null) !== (raw.tlsKey === null)) throw invalid('tls-cert and tls-key go together');
  if (raw.traceHeader !== false && (typeof raw.traceHeader !== 'string' || !/^[\x21-\x39\x3b-\x7e]+$/.test(raw.traceHeader))) {
    throw invalid(`trace-header must be a header field name (printable ASCII, no space or ":"), found ${JSON.stringify(raw.traceHeader)}`);
  }
  if (!LOG_LEVELS.includes(raw.logLevel)) throw invalid(`log-level must be one of ${LOG_LEVELS.join(', ')}, found ${JSON.stringify(raw.logLevel)}`);
  for (const key of Object.keys(raw.timeouts)) {
    if (!TIMEOUT_KEYS.has(key)) throw invalid(`timeouts.${key} is not a timeout (${[...TIMEOUT_KEYS].join(', ')})`);
  }
  const timeouts = {};
  for (const [key, value] of Object.entries(raw.timeouts)) timeouts[key] = seconds(value, `timeouts.${key}`, { max: 3600 }) * 1000;

  const tlsrptSend = tlsrptSendConfig(raw.tlsrptSend, helo, raw.store);

  return {
    tlsrptSend,
    listen: listen.map((l) => parseHostPort(l, 'listen')),
    helo,
    store: raw.store,
    allow,
    users: raw.users,
    tlsCert: raw.tlsCert,
    tlsKey: raw.tlsKey,
    maxSize: integer(raw.maxSize, 'max-size', 1024, 2 ** 40),
    traceHeader: raw.traceHeader === false ? null : raw.traceHeader,
    metrics: raw.metrics === null || raw.metrics === false ? null : parseHostPort(raw.metrics, 'metrics'),
    logLevel: raw.logLevel,
    logFile: raw.logFile,
    refreshInterval: seconds(raw.refreshInterval, 'refresh-interval', { min: 0, max: 86_400 }) * 1000,
    reuseIdle: seconds(raw.reuseIdle, 'reuse-idle', { min: 0, max: 300 }) * 1000,
    maxClients: integer(raw.maxClients, 'max-clients', 1, 100_000),
    shutdownTimeout: seconds(raw.shutdownTimeout, 'shutdown-timeout', { min: 0, max: 86_400 }) * 1000,
    journalDays: integer(raw.journalDays, 'journal-days', 1, 366),
    mxAddressLimit: integer(raw.mxAddressLimit, 'mx-address-limit', 1, 100),
    mxSessionLimit: integer(raw.mxSessionLimit, 'mx-session-limit', 1, 100),
    tlsrptKeepDays: integer(raw.tlsrptKeepDays, 'tlsrpt-keep-days', 1, 366),
    timeouts,
    dnsServers: list(raw.dnsServers) ?? undefined,
    caFile: raw.caFile ?? undefined,
    policyPort: raw.policyPort === null ? undefined : integer(raw.policyPort, 'policy-port', 1, 65535),
    smtpPort: raw.smtpPort === null ? undefined : integer(raw.smtpPort, 'smtp-port', 1, 65535),
    allowPrivate: flag(raw.allowPrivate, 'allow-private'),
  };
}

/** Checks `tlsrptSend` (null: the relay sends no reports). Times in ms from here on. */
function tlsrptSendConfig(given, helo, store) {
  if (given === null || given === undefined || given === false) return null;
  if (typeof given !== 'object' || Array.isArray(given)) throw invalid('tlsrptSend must be an object (or null)');
  for (const key of Object.keys(given)) {
    if (!(key in TLSRPT_SEND_DEFAULTS)) throw invalid(`tlsrptSend.${key} is not a setting (${Object.keys(TLSRPT_SEND_DEFAULTS).join(', ')})`);
  }
  const c = { ...TLSRPT_SEND_DEFAULTS, ...given };
  if (store === 'memory') throw invalid('tlsrpt-send needs a file store (--store file:DIR): the send ledger and the records must outlive the relay');
  const text = (v, what) => {
    if (typeof v !== 'string' || v.trim() === '') throw invalid(`${what} is needed to send TLS reports (RFC 8460 §4.4), found ${JSON.stringify(v)}`);
    return v;
  };
  const submitter = c.submitter ?? helo;
  if (typeof submitter !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(submitter)) throw invalid(`tlsrpt-submitter needs a domain name, found ${JSON.stringify(submitter)}`);
  const from = c.from ?? `tlsrpt@${submitter.toLowerCase()}`;
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(from)) throw invalid(`tlsrptSend.from needs an address local@domain, found ${JSON.stringify(from)}`);
  if ((c.smtpUser === null) !== (c.smtpPassFile === null)) throw invalid('tlsrptSend.smtpUser and smtpPassFile go together');
  const dkimGiven = [c.dkimKey, c.dkimSelector, c.dkimDomain].filter((v) => v !== null).length;
  if (dkimGiven !== 0 && dkimGiven !== 3) throw invalid('tlsrptSend.dkimKey, dkimSelector and dkimDomain go together');
  if (typeof c.onlyFailures !== 'boolean') throw invalid(`tlsrptSend.onlyFailures must be true or false, found ${JSON.stringify(c.onlyFailures)}`);
  return {
    organization: text(c.organization, 'tlsrpt-org'),
    contact: text(c.contact, 'tlsrpt-contact'),
    submitter: submitter.toLowerCase(),
    smtp: c.smtp === null ? null : parseHostPort(c.smtp, 'tlsrpt-smtp'),
    smtpUser: c.smtpUser,
    smtpPassFile: c.smtpPassFile,
    from,
    dkim: dkimGiven === 3 ? { key: c.dkimKey, selector: c.dkimSelector, domain: c.dkimDomain } : null,
    onlyFailures: c.onlyFailures,
    maxDelay: seconds(c.maxDelay, 'tlsrpt-send-delay', { min: 0, max: 86_400 }) * 1000,
    checkEvery: seconds(c.checkEvery, 'tlsrptSend.checkEvery', { min: 0.01, max: 86_400 }) * 1000,
    timeout: seconds(c.timeout, 'tlsrptSend.timeout', { min: 0.1, max: 3600 }) * 1000,
    retryBase: seconds(c.retryBase, 'tlsrptSend.retryBase', { min: 0.01, max: 86_400 }) * 1000,
  };
}
