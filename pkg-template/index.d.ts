// Type declarations for the `mtasts` package (hand-written; the runtime is Rust compiled to
// WebAssembly). The same declarations describe both entries: Node (`node` condition, ready at import)
// and the browser (`default` condition, call `await init()` first).
//
// This file is the declarations of both; node.d.ts and browser.d.ts export, each, exactly what its
// entry exports (a name the entry lacks is a type-only export there, so using it fails at type-check).

import type { TxtDnsHost, DnsHost, HttpsHost, MxSocket, WasmModule } from './hosts.js';
export type * from './hosts.js';

/**
 * A valid MTA-STS TXT record, published at `_mta-sts.<domain>` (RFC 8461 §3.1).
 *
 * ```text
 * sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 * sts-version     = %s"v=STSv1"
 * sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 * sts-extension   = sts-ext-name "=" sts-ext-value
 * ```
 */
export interface MtaStsRecord {
  /** Always `STSv1`. */
  version: 'STSv1';
  /** 1–32 letters and digits; a change tells senders that the policy changed (RFC 8461 §3.1). */
  id: string;
  /** Extension fields (`sts-ext-name=sts-ext-value`); for a repeated name the first counts. */
  extensions: { [name: string]: string };
}

/** The policy mode (RFC 8461 §5): `enforce` refuses MX hosts that fail; `testing` delivers and reports; `none` is as if no policy. */
export type PolicyMode = 'enforce' | 'testing' | 'none';

/**
 * A valid MTA-STS policy, served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.2).
 */
export interface MtaStsPolicy {
  /** Always `STSv1`. */
  version: 'STSv1';
  /** `enforce`, `testing` or `none` (case-sensitive, RFC 8461 §3.2). */
  mode: PolicyMode;
  /** `max_age` in seconds: 1–10 digits, at most 31557600 (about one year), RFC 8461 §3.2. */
  maxAge: number;
  /**
   * MX host patterns, `[*.]domain` in A-label form and in lower case (RFC 8461 §3.2, matched per
   * §4.1, case-insensitively). At least one unless `mode` is `none`.
   */
  mx: string[];
  /** Extension keys and values (RFC 8461 §3.2 `sts-policy-extension`); for a repeated key the first counts. */
  extensions: { [key: string]: string };
}

/** One problem found by lint mode, said for a person. */
export interface Diagnostic {
  /** `error`: the input is unusable. `warning`: legal but unwise. */
  severity: 'error' | 'warning';
  /** Stable kebab-case code naming the exact rule, e.g. `policy-max-age-invalid`. */
  code: string;
  /** Lowercase; says what was expected and what was found. */
  message: string;
  /** 1-based line (a TXT record is line 1). 0 for a note about the whole input. */
  line: number;
  /** 1-based column, counted in characters. 0 for a note about the whole input. */
  column: number;
  /** The section stating the rule, e.g. `RFC 8461 §3.2`; empty when no RFC states it. */
  rfc: string;
}

/** Result of {@link lintRecord}. */
export interface RecordLint {
  /** The record when it has no errors (warnings allowed), else `null`. */
  record: MtaStsRecord | null;
  /** Every problem found, in input order. */
  diagnostics: Diagnostic[];
}

/** Result of {@link lintPolicy}. */
export interface PolicyLint {
  /** The policy when it has no errors (warnings allowed), else `null`. */
  policy: MtaStsPolicy | null;
  /** Every problem found, in input order. */
  diagnostics: Diagnostic[];
}

/**
 * Stable error codes thrown by this package (more may be added; compare against `code`).
 * `invalid-argument`: a function was given a value of the wrong type (e.g. a number as policy
 * text); the message names the function, the argument and what was found, e.g.
 * `parseRecord: txt must be a string, found number`.
 */
/**
 * Every `code` an `MtaStsError` can carry. The core's codes are `errorCodes()` (derived in Rust;
 * tests/js/consumer.test.mjs checks this list against it); the host's own follow.
 */
export type MtaStsErrorCode =
  | 'record-multiple'
  | 'record-invalid'
  | 'tlsrpt-record-multiple'
  | 'tlsrpt-record-invalid'
  | 'policy-invalid'
  | 'mx-host-invalid'
  | 'mx-pattern-invalid'
  | 'policy-fetch-timeout'
  | 'policy-too-large'
  | 'policy-truncated'
  | 'policy-webpki-invalid'
  | 'policy-fetch-error'
  | 'policy-http-status'
  | 'policy-redirect'
  | 'policy-content-type'
  | 'dns-temporary'
  | 'domain-invalid'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'smtp-refused'
  | 'starttls-refused'
  | 'starttls-not-supported'
  | 'smtp-closed'
  | 'smtp-protocol-error'
  | 'smtp-data-before-tls'
  | 'smtp-helo-invalid'
  | 'smtp-out-of-step'
  | 'smtp-unexpected-reply'
  | 'invalid-argument'
  | 'mx-null'
  | 'mx-not-in-policy'
  | 'delivery-failed'
  | 'domain-not-found'
  | 'mx-unusable'
  | 'recipient-address-literal'
  | 'recipient-no-domain'
  | 'recipient-other-domain'
  | 'delivery-deadline'
  | 'mx-lookup-failed'
  | 'mx-address-not-found'
  | 'mx-address-refused'
  | 'mx-address-invalid'
  | 'mx-address-lookup-failed'
  | 'mx-connect-failed'
  | 'mx-timeout'
  | 'tls-handshake-failed'
  | 'tlsrpt-report-too-large'
  | 'tlsrpt-report-not-json'
  | 'tlsrpt-report-too-deep'
  | 'tlsrpt-report-not-object'
  | 'tlsrpt-report-field-missing'
  | 'tlsrpt-report-wrong-type'
  | 'tlsrpt-report-count-invalid'
  | 'tlsrpt-report-date-invalid'
  | 'tlsrpt-report-result-type-invalid'
  | 'tlsrpt-report-input-invalid'
  // The socketmap protocol (socketmap_table(5); src/socketmap/):
  | 'socketmap-netstring-length'
  | 'socketmap-netstring-length-digits'
  | 'socketmap-request-too-large'
  | 'socketmap-netstring-comma'
  | 'socketmap-netstring-truncated'
  | 'socketmap-request-invalid'
  | 'socketmap-reply-too-large'
  // The Node host's, the relay's and the stores' own codes:
  | 'aborted'
  | 'config-invalid'
  | 'internal-error'
  | 'journal-unavailable'
  | 'journal-write-failed'
  | 'listen-failed'
  | 'message-too-big'
  | 'mx-connection-lost'
  | 'mx-data-aborted'
  | 'missing-dependency'
  | 'not-initialized'
  | 'store-corrupt-entry'
  | 'store-invalid-entry'
  | 'store-invalid-key'
  | 'store-invalid-path'
  | 'store-io-error'
  | 'store-redis-foreign-data'
  | 'store-redis-invalid-spec'
  | 'store-redis-timeout'
  | 'store-redis-unavailable'
  | 'users-file-invalid'
  | (string & {});

/** One error code of the core, as `errorCodes()` lists them (derived in Rust from the errors). */
export interface ErrorCodeInfo {
  /** The stable kebab-case `code` an `MtaStsError` (or an `errors[]` entry) carries. */
  code: string;
  /** The RFC 8460 §4.3 result type a sender reports for it. */
  tlsrpt: string;
  /** Whether a later try may succeed; null when it depends on the case (an SMTP reply code, whether every MX failed for good). */
  temporary: boolean | null;
  /** The RFC section of the rule. */
  rfc: string;
  /** The message of an example. */
  example: string;
}

/** Every error code the core can produce, with its TLS-RPT result type, temporariness and RFC section. */
export function errorCodes(): ErrorCodeInfo[];

/**
 * The one error class of the package. `code` is stable and kebab-case; parse errors also say which
 * rule (`problem`, a diagnostic code), where (`line`, `column`, 1-based) and the RFC section (`rfc`).
 */
export class MtaStsError extends Error {
  constructor(
    code: MtaStsErrorCode,
    message: string,
    details?: { problem?: string; line?: number; column?: number; rfc?: string; tlsrpt?: string; cause?: unknown },
  );
  readonly name: 'MtaStsError';
  /** Stable kebab-case code, e.g. `policy-invalid`. */
  readonly code: MtaStsErrorCode;
  /** For parse errors: the diagnostic code of the first error, e.g. `policy-mode-invalid`. */
  readonly problem?: string;
  /** 1-based line of a parse error. */
  readonly line?: number;
  /** 1-based column (characters) of a parse error. */
  readonly column?: number;
  /** RFC section of the rule broken, e.g. `RFC 8461 §3.2`. */
  readonly rfc?: string;
  /** The RFC 8460 §4.3 result type a sender reports for this failure, e.g. `sts-policy-invalid`. */
  readonly tlsrpt?: string;
  /** Whether a later attempt may succeed (DNS, TLS and 4yz failures); false for final ones (e.g. a null MX). */
  readonly temporary?: boolean;
}

/**
 * Loads the WebAssembly module. Browser entry: required before any other call (they throw
 * `MtaStsError` `not-initialized` until it resolves); idempotent, concurrent calls share one promise;
 * by default fetches `wasm/mtasts_bg.wasm` next to the package's JS. `input` may be a URL or a
 * string URL (a bundler's URL of `mtasts/wasm`), a `Request`, a `Response` or a promise of one
 * (`fetch(url)`), the module's bytes (`ArrayBuffer`, `Uint8Array`) or a compiled
 * `WebAssembly.Module`; anything else rejects with `invalid-argument` (and a later call may try
 * again). Node entry: the module is loaded at import time and `init()` resolves at once.
 */
export function init(
  input?: string | URL | Request | Response | Promise<Response> | ArrayBuffer | ArrayBufferView | WasmModule,
): Promise<void>;

/**
 * Parses one MTA-STS TXT record (the strings of one TXT record already concatenated), RFC 8461 §3.1.
 * @throws {MtaStsError} `record-invalid` (with `problem`, `column`, `rfc`); `invalid-argument`
 * when `txt` is not a string (as every function here does for an argument of the wrong type).
 */
export function parseRecord(txt: string): MtaStsRecord;

/**
 * Applies the RFC 8461 §3.1 selection to the TXT records found at `_mta-sts.<domain>`: each record
 * is a list of strings, concatenated without separator; records not beginning with `v=STSv1;` are
 * ignored.
 * @returns the one record, or `null` when no record begins with `v=STSv1;` (no policy).
 * @throws {MtaStsError} `record-multiple` when more than one remains, `record-invalid` when the one
 * left is invalid (either way the domain has no usable policy).
 */
export function selectRecord(records: readonly (readonly string[])[]): MtaStsRecord | null;

/**
 * Lints a TXT record for people: every problem, not just the first (RFC 8461 §3.1). `name`, when
 * given, is the DNS name it was found at, and is checked too (e.g. the draft-era `_mta_sts`).
 * Never throws on bad input.
 */
export function lintRecord(txt: string, name?: string): RecordLint;

/**
 * Parses a policy file (RFC 8461 §3.2). Lines end in LF or CRLF; unknown keys are kept as
 * extensions; for keys other than `mx` the first occurrence counts; `mx` patterns are given in
 * lower case (RFC 8461 §4.1). Bytes must be UTF-8. The policy returned is a plain object that
 * also carries its checked patterns for {@link matchMx} and {@link matchMxList} (not a visible
 * property: while its `mx` array is unchanged, matching validates nothing again, and a host
 * already in lower case without a trailing dot is matched without a call into the module).
 * @throws {MtaStsError} `policy-invalid` with `problem`, `line`, `column` and `rfc` of the first error.
 */
export function parsePolicy(text: string | Uint8Array): MtaStsPolicy;

/**
 * Lints a policy file for people: every problem with severity, code, line, column and RFC section,
 * including draft-era inputs (a JSON policy body, `mode: report`) and warnings for what is legal
 * but unwise (duplicate or unknown keys, `max_age` under one day, trailing whitespace).
 * Never throws on bad input.
 */
export function lintPolicy(text: string | Uint8Array): PolicyLint;

/**
 * Writes a policy as canonical text (RFC 8461 §3.2): `parsePolicy(formatPolicy(p))`
 * equals `p`.
 * @throws {MtaStsError} `policy-invalid` when `policy` is not a valid policy.
 */
export function formatPolicy(policy: MtaStsPolicy): string;

/**
 * Whether `host` matches one of the policy's MX patterns (RFC 8461 §4.1): case-insensitive, a
 * trailing dot ignored, `*` only as the whole left-most label, matching exactly one label; U-label
 * hosts are converted to A-labels first. A host that is not a domain name (`''`, `a..b`,
 * `.example.com`) matches no pattern: `false`.
 * @throws {MtaStsError} `mx-pattern-invalid` for an invalid pattern; `invalid-argument` when
 * `host` is not a string or `patternsOrPolicy` is not an array of strings or an object with one as `mx`.
 */
export function matchMx(patternsOrPolicy: readonly string[] | { readonly mx: readonly string[] }, host: string): boolean;

/**
 * {@link matchMx} for each host of an MX list, in one call (into the module, or none for a
 * parsed policy and hosts in normal form): `matchMxList(p, hosts)[i] === matchMx(p, hosts[i])`.
 * An empty list gives `[]`.
 * @throws {MtaStsError} as {@link matchMx}; `invalid-argument` when `hosts` is not an array of strings.
 */
export function matchMxList(
  patternsOrPolicy: readonly string[] | { readonly mx: readonly string[] },
  hosts: readonly string[],
): boolean[];

/** Per-step time limits of `connectMx`, in milliseconds. */
export interface ConnectMxTimeouts {
  /** TCP connect, per address (default 30000). */
  connect?: number;
  /** Each SMTP reply before TLS: greeting, EHLO, STARTTLS (default 60000). */
  reply?: number;
  /** The TLS handshake (default 30000). */
  tls?: number;
}

/**
 * Bounds on one `connectMx` call, enforced by the core's delivery machine. Defaults follow
 * Postfix (`smtp_mx_address_limit`, `smtp_mx_session_limit`) and keep the whole call below a
 * sending MTA's 300 s RCPT timeout.
 */
export interface ConnectMxLimits {
  /** MX addresses dialled in all, over every MX host (default 5; again for the plaintext retry). */
  maxAddresses?: number;
  /** SMTP sessions (connections that got a greeting) (default 2). */
  maxSessions?: number;
  /** Milliseconds for everything after the policy: MX lookup, every address, dialogue, handshake (default 240000). */
  deadline?: number;
}

/**
 * Options of `connectMx`. The options that point the library at test infrastructure —
 * `dnsServers`, `ca`, `policyPort`, `smtpPort` — are off by default.
 */
export interface ConnectMxOptions {
  /** The name this host gives in EHLO/HELO (RFC 5321 §4.1.1.1). Required. */
  heloName: string;
  /** Refuse plaintext and invalid certificates even when the domain has no policy (or mode none). */
  requireTls?: boolean;
  /** Test infrastructure: the port dialled on MX hosts instead of 25. */
  smtpPort?: number;
  /** The port dialled on MX hosts (default 25); `smtpPort` is its older name (give one, or the same). */
  port?: number;
  /**
   * Dial MX addresses in special-purpose ranges (RFC 6890: loopback, RFC 1918 private, RFC 6598
   * shared, link-local, RFC 4193 unique-local, documentation, multicast, reserved, IPv4-mapped).
   * Default false: they are refused for delivery on the internet, each recorded as an attempt
   * `mx-address-refused` (a hostile DNS answer cannot point the sender at its own network). A lab
   * on loopback, or a private network, sets it.
   */
  allowPrivate?: boolean;
  /**
   * Which address families are dialled, in which order: `any` (default: as the DNS host gives
   * them, IPv4 first), `prefer-ipv4`, `prefer-ipv6`, `ipv4-only`, `ipv6-only`. A host left with no
   * address of the family is an attempt `mx-address-not-found`.
   */
  ipFamily?: 'any' | 'prefer-ipv4' | 'prefer-ipv6' | 'ipv4-only' | 'ipv6-only';
  /**
   * The local address to connect from: one numeric address, or one IPv4 and one IPv6. Each target
   * is dialled from the address of its family; a target of a family without one is dialled
   * unbound (use `ipFamily` to exclude that family).
   */
  localAddress?: string | string[];
  /**
   * MX records you already have, instead of the MX lookup: `{ exchange, priority, addresses? }`.
   * The core plans with them as with DNS records (RFC 8461 §4.1 filtering, preference order);
   * an entry with `addresses` is dialled on those (screened like DNS answers) without a lookup.
   */
  mx?: Array<{ exchange: string; priority?: number; addresses?: string[] }>;
  /**
   * Opens the TCP connection instead of node:net (a SOCKS client, an HTTP CONNECT proxy). Gets the
   * MX host name, the numeric address and port, the local address the core chose, the time left
   * (ms) and the delivery's signal; returns a socket (connected or connecting) or a Promise of
   * one. A throw, a rejection, or no socket in time fail that address (`mx-connect-failed`,
   * `mx-timeout`) and the next is tried; STARTTLS, TLS and the §4.2 check run over the socket as
   * usual. Unlike mx-connect's `connectHook(delivery, options, callback)`, it returns the socket.
   */
  connectHook?: (target: { host: string; address: string; port: number; localAddress?: string; timeout: number; signal?: AbortSignal }) =>
    MxSocket | Promise<MxSocket>;
  /**
   * Hears each attempt as it ends (a refused address, a failed connect, a TLS or certificate
   * failure, the success), in order, before the next is dialled; the same objects as `attempts`.
   * What it throws ends the delivery with that error.
   */
  onAttempt?: (attempt: MxAttempt) => void;
  /** Test infrastructure: 'host:port' name servers instead of the system's (policy, MX and A/AAAA). */
  dnsServers?: string[];
  /** Extra trusted CAs (PEM, or DER bytes for the MX check) added to the system roots. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Trust anchors for the MX certificate instead of system roots + `ca`. */
  roots?: Array<string | Uint8Array>;
  /** Test infrastructure: the policy host's port instead of 443. */
  policyPort?: number;
  /** Policy fetch timeout in ms (default 60000). */
  timeout?: number;
  /** DNS query timeout in ms (default 5000). */
  dnsTimeout?: number;
  /** Per-step time limits of the connection. */
  timeouts?: ConnectMxTimeouts;
  /** Limits on addresses, sessions and the overall time. */
  limits?: ConnectMxLimits;
  /** Aborting stops the delivery at its next step and closes its socket (rejects with `aborted`). */
  signal?: AbortSignal;
  /**
   * RFC 8460: record this delivery's TLS-RPT results — one record per session attempt and per
   * policy-discovery failure, as the relay records them — into this log ({@link fileTlsrptLog},
   * {@link memoryTlsrptLog}); {@link sessionResultsFor} then gives a day's results for
   * {@link buildTlsRptReports}. Success and failure alike are recorded.
   */
  tlsrpt?: TlsRptLog;
  /** Told when `tlsrpt` fails to record (the delivery itself is not failed for it). */
  onTlsrptError?: (err: Error, domain: string) => void;
  /**
   * Policy cache. Default: without `store`, `resolver` and `now`, calls share one process-wide
   * memory store per host configuration (the cache is the RFC 8461 §10.2 downgrade defence).
   */
  store?: { get(domain: string): Promise<unknown>; put(domain: string, entry: unknown): Promise<void>; delete(domain: string): Promise<void>; list(): Promise<unknown[]> };
  /** A PolicyResolver to use instead of one made from these options; its DNS host also looks up MX and addresses. */
  resolver?: { resolve(domain: string): Promise<object>; dns?: object };
  /** The DNS host for MX and A/AAAA (default: the resolver's), with `resolveMx(name)` and `resolveAddresses(name)` as js/node/dns.js has them. */
  dns?: object;
  /** The clock: milliseconds since the epoch (or a fixed Date), for the policy cache and certificate validity. */
  now?: (() => number) | Date;
}

/** One connection attempt, ready for TLS-RPT (RFC 8460 §4.3). */
export interface MxAttempt {
  host: string;
  /** null when the host's address could not be looked up. */
  address: string | null;
  port: number;
  /**
   * `success`, `plaintext-fallback` (the plaintext retry after TLS failed: testing, mode none or
   * no policy), or the failure code (e.g. `certificate-host-mismatch`, `starttls-not-supported`,
   * `starttls-refused`, `tls-handshake-failed`, `mx-connect-failed`, `mx-timeout`, `smtp-closed`,
   * `smtp-data-before-tls`, `mx-address-not-found`, `mx-address-refused` (an RFC 6890
   * special-purpose address, not dialled without `allowPrivate`), `mx-address-invalid`).
   */
  result: string;
  /** The RFC 8460 result type of the failure; null for a success and for a plaintext retry (no TLS session). */
  tlsrpt: string | null;
  message: string | null;
  temporary: boolean;
  /** The policy mode applied; null without a policy. */
  mode: PolicyMode | null;
  verdict: 'deliver' | 'deliver-plaintext' | 'try-next';
  /** Whether TLS was established on this attempt. */
  secured: boolean;
  /** The host's low-level detail, e.g. `ECONNREFUSED` or a TLS alert; null when none. */
  detail: string | null;
  tlsVersion: string | null;
  /** A plaintext retry of an address whose TLS failed (RFC 8461 §5; never under enforce or requireTls). */
  fallback: boolean;
  /**
   * RFC 8460 §4.4 `sending-mta-ip`: the local address of this attempt's connection, which the host
   * tells the core when it connects (the core sees no socket); null when no connection was made.
   */
  sendingIp: string | null;
}

/** What the core decided for the trace header (`MTA-STS-Verify` in the relay). */
export interface DeliveryTrace {
  /** `verified` (TLS, certificate valid for the MX name), `unverified` (TLS the mode tolerated), `plaintext`. */
  result: 'verified' | 'unverified' | 'plaintext';
  policyDomain: string;
  mode: PolicyMode | null;
  /** The TXT id of the policy applied (found or cached). */
  policyId: string | null;
  mx: string;
  tlsVersion: string | null;
}

/** A verified delivery connection. */
export interface MxConnection {
  /**
   * SMTP after the dialogue, paused (attach listeners, then `resume()` or pipe). After STARTTLS (`verdict` 'deliver'): the TLSSocket; say EHLO
   * again (RFC 3207 §4.2). After 'deliver-plaintext': the plain socket, whose EHLO was already
   * answered; go on with MAIL FROM or say EHLO again (RFC 5321 allows it).
   */
  socket: MxSocket;
  mx: { host: string; priority: number; address: string; port: number; matched: string | null; implicit: boolean };
  /** The policy discovery result (as `resolvePolicy` returns it). */
  policy: {
    domain: string;
    status: string;
    policy: MtaStsPolicy | null;
    id: string | null;
    fetchedAt: Date | null;
    expiresAt: Date | null;
    source: string | null;
    errors: Array<{ code: string; message: string; tlsrpt: string }>;
  };
  /** TLS details; null for a plaintext delivery. */
  tls: {
    version: string;
    cipher: string | null;
    /** The peer's certificates (DER), leaf first. */
    peerCertificates: Uint8Array[];
    /** The core's RFC 8461 §4.2 verdict on the chain for `mx.host`. */
    certificate: { ok: boolean; code?: string; message?: string; tlsrpt?: string };
  } | null;
  verdict: 'deliver' | 'deliver-plaintext';
  /** The trace facts of this connection. */
  trace: DeliveryTrace;
  /** RFC 8460 §4.4 policy type: `sts` under enforce or testing, else `no-policy-found`. */
  policyType: 'sts' | 'no-policy-found';
  /** Every attempt made, the last one the one that succeeded. */
  attempts: MxAttempt[];
  /** The lines of the server's 220 greeting (the text after the code). */
  greeting: string[];
  /**
   * The lines of the server's 250 answer to our EHLO before TLS: its name, then one extension per
   * line (`SIZE 10240000`, `STARTTLS`, ...). After STARTTLS they are stale (RFC 3207 §4.2): your
   * own EHLO on the TLS socket gets the ones that count.
   */
  ehlo: string[];
}

/**
 * A `connectMx` failure: an `MtaStsError` with the core's decision attached. `reply` is what a
 * relay answers its client: 4xx keeps the message queued, 5xx only for a cause no retry can fix
 * (NXDOMAIN `domain-not-found` 5.1.2, null MX 5.1.10, no usable MX name `mx-unusable` 5.4.4, every
 * MX refusing for good outside enforce).
 */
export interface ConnectMxError extends MtaStsError {
  temporary: boolean;
  reply: { code: number; enhanced: string; text: string };
  attempts: MxAttempt[];
  mx: string | null;
  mode: PolicyMode | null;
  policyType: 'sts' | 'no-policy-found';
  policy: MxConnection['policy'];
}

/**
 * Node entry only. Opens a connection to an MX host of `domain` under its MTA-STS policy
 * (RFC 8461 §4, §5): enforce — only matching MX hosts, only after STARTTLS with a certificate valid
 * for the MX host; testing — delivers anyway and records each failure in `attempts`; none / no
 * policy — opportunistic STARTTLS unless `requireTls`; when TLS fails on every MX (STARTTLS
 * refused, handshake failed) outside enforce and without `requireTls`, the addresses are tried
 * once more in plaintext, as opportunistic senders do.
 * @throws {ConnectMxError} `delivery-failed` (with `attempts` and `temporary`; always temporary
 * under enforce), `delivery-deadline`, `domain-not-found`, `mx-null`, `mx-unusable` (permanent),
 * `mx-not-in-policy` (temporary), `mx-lookup-failed`, `aborted`, `invalid-argument`,
 * `smtp-helo-invalid`, `domain-invalid`.
 */
export function connectMx(domain: string, options: ConnectMxOptions): Promise<MxConnection>;

/**
 * Node entry only. A `getSocket` for nodemailer: delivers through `connectMx` to the recipient
 * domain, taken from `options.domain` or else the transport's `host` (nodemailer does not pass the
 * message to getSocket). `heloName` defaults to the transport's `name`. `onConnect` sees each
 * connection before nodemailer uses it.
 */
export function nodemailerSocket(
  options?: Partial<ConnectMxOptions> & { domain?: string; onConnect?: (connection: MxConnection) => void },
): (transportOptions: { host?: string; name?: string }, callback: (err: Error | null, socketOptions?: object) => void) => void;

/** One failure met during discovery, with its stable code and RFC 8460 result type. */
export interface PolicyError {
  /** e.g. `dns-temporary`, `record-multiple`, `record-invalid`, `policy-http-status`, `policy-redirect`,
   * `policy-content-type`, `policy-too-large`, `policy-truncated` (the connection ended before the
   * whole body came; the message gives the byte counts), `policy-fetch-timeout`, `policy-fetch-error`,
   * `policy-webpki-invalid`, `policy-invalid`, and `store-io-error` (the policy was resolved but the
   * store could not save or remove it; `temporary`, the result is still the network's answer). */
  code: string;
  message: string;
  /**
   * `sts-policy-fetch-error`, `sts-policy-invalid` or `sts-webpki-invalid` (RFC 8460 §4.3.2.1);
   * null for `store-io-error`, a failure of the sender's own cache (see `onStoreError`).
   */
  tlsrpt: string | null;
  rfc: string;
  temporary: boolean;
  problem?: string;
  line?: number;
  column?: number;
  /**
   * The local IP address the policy fetch connected from, for an error met on that fetch when a
   * connection was made (RFC 8460 §4.4 `sending-mta-ip`); absent otherwise.
   */
  sendingIp?: string;
}

/** The result of policy discovery (RFC 8461 §3.3, §5.1, §10.2). Frozen: the same object may be handed out again. */
export interface PolicyResult {
  /** The policy domain, lowercase A-labels. */
  domain: string;
  /**
   * `found`: fetched now and valid; `cached`: a cached, unexpired policy applies (also when DNS or the
   * fetch failed — the downgrade defence); `none`: no usable policy (deliver as without MTA-STS, the
   * reason in `errors`); `temperror`: DNS failed temporarily and nothing is cached.
   */
  status: 'found' | 'cached' | 'none' | 'temperror';
  policy: MtaStsPolicy | null;
  /** The TXT record id the policy was fetched under. */
  id: string | null;
  fetchedAt: Date | null;
  /** `fetchedAt + max_age`. */
  expiresAt: Date | null;
  source: 'network' | 'cache' | null;
  errors: PolicyError[];
}

/** A policy cache: one async interface keyed by the policy domain (lowercase A-label). */
export interface PolicyStore {
  get(domain: string): Promise<object | null>;
  put(domain: string, entry: object): Promise<void>;
  delete(domain: string): Promise<void>;
  list(): Promise<Array<{ domain: string; entry: object }>>;
}

/** In-process store (the library's default); entries are copied in and out. */
export function memoryStore(): PolicyStore;

/**
 * Node entry only. One JSON file per domain in `dir` (created, mode 0700): atomic writes (temp
 * file, fsync, rename), survives restarts and crashes mid-write, safe for several processes. Files
 * are named by the SHA-256 of the domain (fixed length, so any domain up to 253 characters can be
 * cached); the domain is kept inside the file. Entries written by earlier versions as
 * `<domain>.json` are still read, and replaced by the next put. A corrupt entry reads as absent
 * and is passed to `onError` (`store-corrupt-entry`); `list()` skips directories and other files,
 * passing an entry file it cannot read to `onError` (`store-io-error`). Errors:
 * `store-invalid-key`, `store-io-error`.
 */
export function fileStore(dir: string, options?: { onError?: (err: MtaStsError) => void }): PolicyStore;

/**
 * Options of policy discovery. The options that point at test infrastructure — `dnsServers`, `ca`,
 * `policyPort` — are off by default.
 */
export interface ResolveOptions {
  /** Test infrastructure: 'host:port' name servers instead of the system's. */
  dnsServers?: string[];
  /** Extra trusted CAs (PEM) for the policy host, added to the system roots. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Test infrastructure: the policy host's port instead of 443. */
  policyPort?: number;
  /** Whole policy fetch time limit in ms (default 60000); the body is capped at 64 KiB. */
  timeout?: number;
  /** DNS query timeout in ms (default 5000). */
  dnsTimeout?: number;
  /** The cache (default: a memory store). */
  store?: PolicyStore;
  /** Seconds a TXT check stays good before the record is asked again (default 300; 0 = always). */
  recheckAfter?: number;
  /** Clock in milliseconds since the epoch (default Date.now). */
  now?: () => number;
  /**
   * Told when the store cannot save or remove an entry (`store-io-error`, `temporary: true`, with
   * the store's error as `cause`). The result still carries the fetched policy and lists the same
   * failure in `errors`; the next look-up may fetch again. Default: the `errors` entry only.
   */
  onStoreError?: (err: MtaStsError, domain: string) => void;
}

/** Drives the core's discovery with a DNS host, an HTTPS host and a store. */
export class PolicyResolver {
  constructor(options: {
    /** The TXT look-ups of discovery (hosts.d.ts). */
    dns: TxtDnsHost;
    /** The policy fetch (hosts.d.ts). */
    https: HttpsHost;
    store?: PolicyStore;
    recheckAfter?: number;
    now?: () => number;
    random?: () => number;
    onStoreError?: (err: MtaStsError, domain: string) => void;
  });
  /** How many store writes have failed (each also went to `onStoreError`). */
  readonly storeErrors: number;
  /** Concurrent calls for one domain share one discovery. `refresh: true` fetches even with an unchanged id. */
  resolve(domain: string, options?: { refresh?: boolean }): Promise<PolicyResult>;
  /** Stored domains due for proactive refresh (from 75% of their lifetime, with jitter; RFC 8461 §3.3, §10.2). */
  dueForRefresh(): Promise<string[]>;
  /** Refreshes every due entry; a failure keeps the cached policy. */
  refreshDue(): Promise<PolicyResult[]>;
}

/** Node entry only. A PolicyResolver on Node's DNS (`dns.promises.Resolver`) and HTTPS (`node:https`). */
export function createPolicyResolver(options?: ResolveOptions): PolicyResolver;

/**
 * Node entry only. Finds the MTA-STS policy of `domain` as RFC 8461 §3.3 says: TXT at
 * `_mta-sts.<domain>`, then `https://mta-sts.<domain>/.well-known/mta-sts.txt` (HTTP 200, text/plain,
 * no redirects, certificate valid for `mta-sts.<domain>`, 64 KiB, time limit), cached for max_age.
 *
 * The cache is the RFC 8461 §10.2 downgrade defence (a cached policy outlives a removed TXT record
 * or an unreachable policy host), so calls share it: every call with equal host options
 * (`dnsServers`, `ca`, `policyPort`, `timeout`, `dnsTimeout`, `recheckAfter`; none is one such
 * configuration: system DNS and roots) uses one process-wide resolver and memory store, whether or
 * not it passes the same options object. A call that passes its own `store` or `now` gets a
 * resolver of its own on that store and clock (give a `fileStore` to keep policies across
 * restarts). At most 16 configurations are kept, the oldest dropped first.
 * @throws {MtaStsError} `invalid-argument` (a rejection) when `domain` is not a string or
 *   `options` is not an object
 */
export function resolvePolicy(domain: string, options?: ResolveOptions): Promise<PolicyResult>;

/**
 * Node entry only. RFC 8461 §4.2: is `chain` (DER certificates, the leaf first, the rest in any
 * order) valid for the MX `host` — chains to `roots` (default: Node's root certificates), valid at
 * `now` (default: the current time), a SAN dNSName matching `host` (wildcard only as the whole
 * left-most label, no Common Name fallback), server-auth EKU? Signatures are checked by
 * node:crypto; `ring: true` uses the module's own (the browser's) code instead.
 * Codes: `certificate-host-mismatch`, `certificate-expired`, `certificate-not-trusted`,
 * `validation-failure` (the RFC 8460 result types). `now` may also be milliseconds since the epoch.
 * @throws {MtaStsError} `invalid-argument` for arguments of the wrong type (a chain that is not
 * an array of `Uint8Array`s, a host that is not a string, an invalid `Date`, roots that are not
 * PEM strings or DER bytes).
 */
export function verifyCertificate(
  chain: Uint8Array[],
  host: string,
  options?: { now?: Date | number; roots?: Array<string | Uint8Array>; ring?: boolean },
): { ok: boolean; code?: string; message?: string; tlsrpt?: string };

// ---------------------------------------------------------------------------------------------
// TLS-RPT record (RFC 8460 §3)

/**
 * A valid TLS-RPT TXT record, published at `_smtp._tls.<domain>` (RFC 8460 §3).
 *
 * ```text
 * tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
 * field-delim      = *WSP ";" *WSP
 * tlsrpt-version   = %s"v=TLSRPTv1"
 * tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 * tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
 * ```
 */
export interface TlsRptRecord {
  /** Always `TLSRPTv1`. */
  version: 'TLSRPTv1';
  /**
   * Where aggregate reports go: the record's `mailto:` and `https:` URIs in order, each once
   * (the only schemes RFC 8460 §3 supports; URIs of other schemes are left out, and lint warns
   * `tlsrpt-record-rua-scheme`). Never empty.
   */
  rua: string[];
  /** Extension fields (`tlsrpt-ext-name=tlsrpt-ext-value`); for a repeated name the first counts. */
  extensions: { [name: string]: string };
}

/** Result of {@link lintTlsRptRecord}. */
export interface TlsRptRecordLint {
  /** The record when it has no errors (warnings allowed), else `null`. */
  record: TlsRptRecord | null;
  /** Every problem found, in input order; codes begin with `tlsrpt-record-`, `rfc` is `RFC 8460 §3`. */
  diagnostics: Diagnostic[];
}

/**
 * Parses one TLS-RPT TXT record (the strings of one TXT record already concatenated), RFC 8460 §3.
 * @throws {MtaStsError} `tlsrpt-record-invalid` (with `problem`, e.g. `tlsrpt-record-rua-missing`,
 * `column` and `rfc`); `invalid-argument` when `txt` is not a string.
 */
export function parseTlsRptRecord(txt: string): TlsRptRecord;

/**
 * Applies the RFC 8460 §3 selection to the TXT records found at `_smtp._tls.<domain>`: each record
 * is a list of strings, concatenated without separator; records not beginning with `v=TLSRPTv1;`
 * are ignored.
 * @returns the one record, or `null` when no record begins with `v=TLSRPTv1;`.
 * @throws {MtaStsError} `tlsrpt-record-multiple` when more than one remains, `tlsrpt-record-invalid`
 * when the one left is invalid. In every case but a record, senders MUST assume the domain does not
 * implement TLS-RPT and send it no report.
 */
export function selectTlsRptRecord(records: readonly (readonly string[])[]): TlsRptRecord | null;

/**
 * Lints a TLS-RPT record for people: every problem, not just the first (RFC 8460 §3), including
 * draft-era inputs (`ruf=`, the `_smtp-tlsrpt` name). `name`, when given, is the DNS name the record
 * was found at, and is checked too. Never throws on bad input.
 */
export function lintTlsRptRecord(txt: string, name?: string): TlsRptRecordLint;

// --- TLS-RPT aggregate reports (RFC 8460 §4, erratum 6241) -------------------------------------

/** The `code`s of report errors (`rfc` is `RFC 8460 §4`; they are not temporary). */
export type TlsRptReportErrorCode =
  | 'tlsrpt-report-too-large'
  | 'tlsrpt-report-not-json'
  | 'tlsrpt-report-too-deep'
  | 'tlsrpt-report-not-object'
  | 'tlsrpt-report-field-missing'
  | 'tlsrpt-report-wrong-type'
  | 'tlsrpt-report-count-invalid'
  | 'tlsrpt-report-date-invalid'
  | 'tlsrpt-report-result-type-invalid'
  | 'tlsrpt-report-input-invalid';

/** RFC 8460 §4.3 result types (§4.3.1 negotiation, §4.3.2 DANE and MTA-STS policy, §4.3.3 general). */
export type TlsRptResultType =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'dane-required'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid';

/**
 * What a sender recorded of `count` equal sessions to one policy domain on the report day. Absent,
 * `null` and `''` are the same (unknown, left out of the report). Counters of several processes
 * merge by addition: give each as its own result, in any order.
 */
export interface TlsRptSessionResult {
  policyDomain: string;
  /** RFC 8460 §4.4 `policy`: `strings` are the policy file's lines, exactly; `mxPatterns` its `mx` values. */
  policy: { type: 'sts' | 'no-policy-found'; strings?: string[]; mxPatterns?: string[] };
  /** `success`, or the failure's result type (an error's `tlsrpt`). Another string is `tlsrpt-report-result-type-invalid`. */
  result: 'success' | TlsRptResultType;
  sendingMtaIp?: string | null;
  receivingMxHostname?: string | null;
  receivingMxHelo?: string | null;
  receivingIp?: string | null;
  failureReasonCode?: string | null;
  additionalInformation?: string | null;
  /** How many sessions this result stands for: 1 (the default) to 2^53 - 1. */
  count?: number;
}

/**
 * One recorded TLS session or policy-discovery failure, as {@link connectMx} (option `tlsrpt`) and
 * the relay write it. `at` decides the UTC day.
 */
export interface TlsRptSessionRecord {
  at: string | Date;
  policyType: 'sts' | 'no-policy-found';
  policyId: string | null;
  mode: 'enforce' | 'testing' | 'none';
  /** The applied policy's lines in canonical form (RFC 8460 §4.4 `policy-string`); `[]` without a policy. */
  policyStrings: string[];
  mxPatterns: string[];
  count: number;
  /** `session`: one TLS session attempt to one MX address; `discovery`: a failure fetching the policy. */
  kind: 'session' | 'discovery';
  mx?: string;
  address?: string | null;
  /** RFC 8460 §4.4 `sending-mta-ip`: the local address of the connection (or of the policy fetch). */
  sendingIp: string | null;
  result: 'success' | TlsRptResultType;
  code: string | null;
  message: string | null;
}

/**
 * Where TLS-RPT records are kept, per policy domain and UTC day. Records of several processes
 * writing the same log add up.
 */
export interface TlsRptLog {
  /** Appends one record; throws `store-invalid-key` for a domain that is not lowercase LDH. */
  record(policyDomain: string, record: TlsRptSessionRecord): Promise<void>;
  /** The days (`YYYY-MM-DD`) with records, oldest first. */
  days(): Promise<string[]>;
  /** The policy domains with records on `day`, sorted. */
  domains(day: string): Promise<string[]>;
  /** The records of `policyDomain` on `day`, in the order written. */
  list(policyDomain: string, day: string): Promise<TlsRptSessionRecord[]>;
  /** Deletes the records of `day`. */
  removeDay(day: string): Promise<void>;
}

/** Records in files: `<dir>/<YYYY-MM-DD>/<policy domain>.jsonl`, one JSON line each (O_APPEND). */
export function fileTlsrptLog(dir: string): TlsRptLog;
/** Records in memory. */
export function memoryTlsrptLog(): TlsRptLog;
/**
 * A day of records as the core's session results, records that differ only in time merged into one
 * with their counts added: `buildTlsRptReports({ ..., day, results: await sessionResultsFor(log, day) })`.
 */
export function sessionResultsFor(log: TlsRptLog, day: string): Promise<TlsRptSessionResult[]>;
/** Deletes the days before `now` minus `keepDays` (default 10); resolves the days deleted. */
export function pruneTlsrptLog(log: TlsRptLog, options: { now: number; keepDays?: number }): Promise<string[]>;

export interface TlsRptBuildOptions {
  /** RFC 8460 §4.4 `organization-name`. */
  organization: string;
  /** RFC 8460 §4.4 `contact-info`. */
  contact: string;
  /** The submitter's domain: the file name's first part (RFC 8460 §5.3) and part of `reportId`. */
  submitter: string;
  /** The UTC day reported, `YYYY-MM-DD` (the core has no clock). */
  day: string;
  results: TlsRptSessionResult[];
}

export interface TlsRptBuiltReport {
  policyDomain: string;
  /**
   * Unique and stable for (day, policy domain, submitter): a version-8 UUID from SHA-256 of
   * `"mtasts tlsrpt report-id v1\n" + day + "\n" + policyDomain + "\n" + submitter`.
   */
  reportId: string;
  /** RFC 8460 §5.3: `submitter!policy-domain!begin!end.json.gz` (Unix seconds; end is the day's last second). */
  fileName: string;
  /** The exact report JSON (gzip it yourself for `application/tlsrpt+gzip`). */
  json: string;
}

/**
 * Aggregates one UTC day of session results into one report per policy domain (sorted), each
 * with one `policies[]` entry per distinct policy. Deterministic: the same results in any order
 * (or split into any counters) give byte-identical `json`. Policies are sorted by type, policy
 * strings and mx patterns; failure details by result type, receiving MX host name, receiving IP,
 * sending MTA IP, HELO, reason code and additional information.
 * @throws {MtaStsError} `tlsrpt-report-result-type-invalid`, `tlsrpt-report-date-invalid` (day),
 * `tlsrpt-report-count-invalid`, `tlsrpt-report-input-invalid` (empty organization or contact),
 * `domain-invalid` (submitter or a policy domain), `invalid-argument` (wrong types).
 */
export function buildTlsRptReports(options: TlsRptBuildOptions): TlsRptBuiltReport[];

/** A tolerated oddity of a report read (`severity` is always `warning`; `line`, `column` are 0). */
export interface TlsRptProblem {
  severity: 'warning';
  /**
   * `tlsrpt-report-mx-host-string`, `tlsrpt-report-date-no-zone`, `tlsrpt-report-sending-ip-missing`,
   * `tlsrpt-report-policy-type-unknown`, `tlsrpt-report-result-type-unknown`,
   * `tlsrpt-report-field-absent`, `tlsrpt-report-field-ignored`, `tlsrpt-report-count-mismatch`.
   */
  code: string;
  message: string;
  line: number;
  column: number;
  rfc: string;
}

export interface TlsRptReportSummary {
  /** `organization-name` (`''` when absent, with a problem). */
  organization: string;
  /** `report-id` (`''` when absent, with a problem). */
  reportId: string;
  /** Normalised to `YYYY-MM-DDTHH:MM:SSZ` (a zone-less time is read as UTC, with a problem). */
  dateRange: { start: string; end: string };
  policies: Array<{
    policyDomain: string;
    /** As sent; other than `tlsa`, `sts`, `no-policy-found` it has a problem. */
    policyType: string;
    successful: number;
    failed: number;
    failures: Array<{ resultType: string; count: number; receivingMxHostname: string | null; receivingIp: string | null }>;
  }>;
  /** At most 200. */
  problems: TlsRptProblem[];
}

/**
 * Reads a report's JSON text (gunzipped) into a checked summary, tolerating what real senders send
 * (a string `mx-host`, zone-less date-times, missing `sending-mta-ip`, unknown types) as problems.
 * @throws {MtaStsError} `tlsrpt-report-too-large` (over 16 MiB), `tlsrpt-report-too-deep` (over 32
 * levels), `tlsrpt-report-not-json`, `tlsrpt-report-not-object`, `tlsrpt-report-field-missing`,
 * `tlsrpt-report-wrong-type`, `tlsrpt-report-count-invalid`, `tlsrpt-report-date-invalid`;
 * `invalid-argument` when `jsonText` is not a string.
 */
export function readTlsRptReport(jsonText: string): TlsRptReportSummary;

// ---------------------------------------------------------------------------------------------
// Postfix socketmap (smtp_tls_policy_maps): the server of `mtasts socketmap`, and the sans-IO
// pieces it is made of (src/socketmap/), for a server of one's own.

/** The zone options of one map name (`socketmap:inet:HOST:PORT:NAME`). */
export interface SocketmapZone {
  /** Answer `testing` policies like `enforce` (postfix-mta-sts-resolver's strict_testing). Default false. */
  strictTesting: boolean;
  /** Add the Postfix ≥ 3.10 attributes (policy_type, policy_domain, policy_ttl, policy_string, mx_host_pattern). Default false. */
  stsAttributes: boolean;
}

/** What the core answers: the reply text (sent inside a netstring) and why. */
export interface SocketmapAnswer {
  /** `OK secure match=... servername=hostname[ ...]`, `NOTFOUND `, `TEMP ...`, `TIMEOUT ...` or `PERM ...`. */
  reply: string;
  class: 'ok' | 'notfound' | 'temp' | 'timeout' | 'perm';
  reason: string;
  /** The names in `match=`: exact patterns in policy order, then the MX hosts a wildcard matches (RFC 8461 §4.1). */
  match: string[];
  mode: 'enforce' | 'testing' | 'none' | null;
}

/** The MX answer of the policy domain, for answers that need it (a wildcard pattern). */
export type SocketmapMx =
  | { kind: 'records'; exchanges: string[]; priorities: number[] }
  | { kind: 'none' }
  | { kind: 'temporary' | 'timeout'; detail: string };

/**
 * One connection's incoming netstrings (`len:data,`), bounded: a length prefix that is not digits,
 * has more than 10 digits or exceeds `maxRequest` (default 2048) throws at once.
 * Free it with `free()` when the connection closes.
 */
export class NetstringDecoder {
  constructor(maxRequest?: number);
  push(bytes: Uint8Array): void;
  /**
   * The next complete request's data, or undefined when more bytes are needed.
   * @throws {MtaStsError} `socketmap-netstring-length`, `socketmap-netstring-length-digits`,
   * `socketmap-request-too-large`, `socketmap-netstring-comma`: close the connection.
   */
  nextRequest(): Uint8Array | undefined;
  /** At the peer's end of stream. @throws {MtaStsError} `socketmap-netstring-truncated` inside a netstring. */
  finish(): void;
  /** Whether a netstring has begun and not ended. */
  inRequest(): boolean;
  free(): void;
}

/**
 * Reads a request `name key`: `domain` is the policy domain to look up (keys normalised as Postfix
 * sends them: `[host]:port`, `domain:port`, trailing dot, case, U-labels), or `answer` is already
 * made (`NOTFOUND ` for parent-domain lookups, address literals and non-domains; `PERM` for a
 * request that is not `name key`).
 */
export function socketmapRequest(data: Uint8Array): { map: string | null; key: string | null; domain: string | null; answer: SocketmapAnswer | null };

/**
 * The answer for `domain` under `policy` (a PolicyResult's `policy`, or null for none). `ttl` is
 * the seconds left before the policy expires (policy_ttl). `mx` only for wildcard policies.
 */
export function socketmapAnswer(domain: string, policy: MtaStsPolicy | null, ttl: number, zone: SocketmapZone, mx?: SocketmapMx | null): SocketmapAnswer;

/** The reply as a netstring. @throws {MtaStsError} `socketmap-reply-too-large` over 100000 bytes. */
export function encodeSocketmapReply(reply: string): Uint8Array;

/**
 * The configuration of `mtasts socketmap`, as its YAML file holds it (README "mtasts socketmap"):
 * our keys and postfix-mta-sts-resolver's mta-sts-daemon.yml keys.
 */
export interface SocketmapConfig {
  listen?: string | string[];
  host?: string;
  port?: number;
  path?: string;
  mode?: number | string;
  zones?: Record<string, { strict_testing?: boolean; timeout?: number; require_sni?: boolean; tlsrpt?: boolean; postfix_sts_attributes?: boolean }>;
  default_zone?: { strict_testing?: boolean; timeout?: number; require_sni?: boolean; tlsrpt?: boolean; postfix_sts_attributes?: boolean };
  answer_ttl?: number;
  recheck_after?: number;
  refresh_interval?: number;
  metrics?: string;
  log_level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  dns_servers?: string[];
  policy_port?: number;
  [key: string]: unknown;
}

export interface Socketmap {
  addresses: Array<{ host: string; port: number } | { path: string }>;
  metricsAddress: { address: string; port: number } | null;
  readonly connections: number;
  /** Stops accepting, answers the requests already read, ends every connection. */
  stop(): Promise<void>;
}

/**
 * Runs the socketmap server in this process. `options.store` is the policy cache (default: memory),
 * `options.ca` extra trusted CAs (PEM) for the policy hosts (test infrastructure).
 * @throws {MtaStsError} `config-invalid`, `listen-failed`
 */
export function startSocketmap(config?: SocketmapConfig, options?: { store?: PolicyStore; ca?: string }): Promise<Socketmap>;

// ---- The checker page's assembly and hosts (browser entry; README "mtasts serve") ----------------

/** The report `mtasts check --json` prints (README: "mtasts check", JSON schema). */
export type CheckReport = Record<string, unknown> & { domain: string; ok: boolean };

/** The DNS host of a check (hosts.d.ts `DnsHost`). */
export type CheckDnsHost = DnsHost;
/** The HTTPS host of a check (hosts.d.ts `HttpsHost`). */
export type CheckHttpsHost = HttpsHost;
export type ProbeMxHost = (host: string, options: { domain: string; policy: unknown; policyId: string | null; now?: Date | (() => number) }) => Promise<Record<string, unknown>>;

/** (browser entry) The check's assembly with the hosts given; the same report as `mtasts check --json`. */
export function checkDomain(
  domain: string,
  hosts: { dns: CheckDnsHost; https: CheckHttpsHost; store: PolicyStore; now?: () => number; probe?: false | object; probeMx?: ProbeMxHost },
): Promise<CheckReport>;

/** (browser entry) A DNS host over DNS over HTTPS (RFC 8484, POST, wire format). */
export function createDohDns(options: { url: string; fetch?: typeof fetch; timeout?: number }): CheckDnsHost;

/** `detail` / `code` of what a browser cannot check without `mtasts serve`'s helpers. */
export const NOT_CHECKABLE: 'not-checkable-from-browser';

/** (browser entry) The policy fetch through `mtasts serve`'s /api/policy (`base` '' for the page's own origin, null: none). */
export function createHelperHttps(options: { base: string | null; fetch?: typeof fetch }): CheckHttpsHost;

/** (browser entry) The MX probe through /api/probe, its transcript replayed into the page's core. */
export function createHelperProbe(options: { base: string | null; fetch?: typeof fetch; core?: () => Promise<object> }): ProbeMxHost;

/** (browser entry) The full module (verifier, delivery machine) beside the first one, loaded once. */
export function loadVerifier(): Promise<{ probeDelivery: (...args: unknown[]) => unknown; trustStoreFor(roots: string[]): unknown }>;

/** (browser entry) URL of the first module (the core without the certificate verifier), for `init`. */
export const LITE_MODULE_URL: URL;
// ---- Redis store (a relay fleet's shared cache; js/stores/redis*.js) -------------------------------

/**
 * Node entry only. Where a Redis store connects: a URL `redis://[user:pass@]host[:port][/db]` or
 * `rediss://…` (TLS), `redis+sentinel://[user:pass@]host:port[,host:port…]/NAME[/db]` (Sentinel),
 * `redis+cluster://[user:pass@]host:port[,host:port…]` (Cluster), `rediss+sentinel://…` and
 * `rediss+cluster://…` (TLS to every node), with the optional query parameters `local=memory|DIR`
 * (the local layer), `timeout=MS` (the command timeout, default 500), `prefix=P` (key prefix,
 * default `mtasts:`) and, with TLS, `ca=FILE` (extra CA certificates, added to the system roots);
 * or an options object: `{ url }`, `{ host, port, db, password, tls }`, `{ sentinels, name }`
 * (Sentinel) or `{ cluster: [{ host, port }], clusterOptions }` (Cluster), each with `prefix`,
 * `commandTimeout`, `connectTimeout` (default 2000), `local`, and any further ioredis option.
 * @throws {MtaStsError} `store-redis-invalid-spec`
 */
export type RedisStoreSpec = string | ({
  url?: string;
  cluster?: Array<{ host?: string; port?: number }>;
  clusterOptions?: object;
  sentinels?: Array<{ host: string; port: number }>;
  name?: string;
  host?: string;
  port?: number;
  prefix?: string;
  commandTimeout?: number;
  connectTimeout?: number;
  local?: 'memory' | string;
} & Record<string, unknown>);

/** The shared connection of a Redis store and TLS-RPT log; `stats` counts its calls. */
export interface RedisConnection {
  readonly up: boolean;
  readonly where: string;
  readonly stats: { calls: number; failures: number; timeouts: number; unavailable: number; downs: number; ups: number };
  /** Resolves true once Redis is ready, false after `ms` (default the connect timeout). */
  waitUntilUp(ms?: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * A policy store shared through Redis over a local layer (memory, or `fileStore(DIR)` with
 * `local=DIR`). Puts and deletes go to the local layer first, then to Redis in one Lua script per
 * domain: an entry never replaces one fetched later (`fetchedAt`, then `checkedAt`); a delete
 * leaves a tombstone. Gets and lists answer with the newer of Redis and the local layer. When Redis
 * is down or slow (every call bounded by the command timeout) the local layer answers: no call
 * fails because of Redis; writes wait (at most `maxPending` domains, default 10000, oldest dropped
 * first) and are pushed when Redis is back. Garbage under its keys reads as absent and goes to
 * `onError` (`store-corrupt-entry`; a key of another type is never overwritten:
 * `store-redis-foreign-data`). Errors: `store-invalid-key`, `store-invalid-entry`, and the local
 * layer's.
 */
export function redisStore(spec: RedisStoreSpec | null, options?: {
  local?: PolicyStore;
  connection?: RedisConnection;
  log?: { info(o: object): void; warn(o: object): void; error(o: object): void };
  onError?: (err: MtaStsError) => void;
  maxPending?: number;
}): PolicyStore & {
  readonly connection: RedisConnection;
  readonly local: PolicyStore;
  /** Domains whose write waits for Redis. */
  readonly pending: number;
  readonly stats: { redisHits: number; localAnswers: number; pushed: number; pendingDropped: number; corrupt: number; foreign: number };
  /** Pushes what waits for Redis now. */
  flush(): Promise<void>;
  /** Pushes what waits (when Redis is up) and closes the connection unless it was given. */
  close(): Promise<void>;
};

/** A relay's TLS-RPT record (js/relay/tlsrpt-log.js). */
export interface TlsRptRecord {
  at: string | Date;
  policyType?: 'sts' | 'no-policy-found';
  policyId?: string | null;
  mode?: string | null;
  policyStrings?: string[];
  mxPatterns?: string[];
  kind?: 'session' | 'discovery';
  mx?: string | null;
  address?: string | null;
  sendingIp?: string | null;
  result: string;
  code?: string | null;
  message?: string | null;
  count?: number;
}

/**
 * The relay's TLS-RPT log (the interface of the file and memory logs: `record`, `days`, `domains`,
 * `removeDay`, `list`) as counters in Redis shared by a fleet: one counter per distinct record
 * (without `at` and `message`), added by batches that each count once however often they are
 * sent. `record` never waits for Redis (a local backlog of at most `maxPending` distinct counters,
 * default 50000; beyond it records are dropped and counted; with `spoolDir`, also written there
 * while Redis is down and sent by the next process that opens it). Keys expire `keepDays` (default 10)
 * days after their day. Reads throw `store-redis-unavailable` / `store-redis-timeout` when Redis
 * cannot answer.
 */
export function redisTlsrptLog(spec: RedisStoreSpec | null, options?: {
  connection?: RedisConnection;
  keepDays?: number;
  maxPending?: number;
  spoolDir?: string;
  log?: { info(o: object): void; warn(o: object): void; error(o: object): void };
  onError?: (err: MtaStsError) => void;
}): {
  readonly connection: RedisConnection;
  readonly pending: number;
  readonly stats: { recorded: number; dropped: number; sent: number; duplicates: number; foreign: number; corrupt: number };
  record(policyDomain: string, record: TlsRptRecord): Promise<void>;
  days(): Promise<string[]>;
  domains(day: string): Promise<string[]>;
  removeDay(day: string): Promise<void>;
  list(policyDomain: string, day: string): Promise<Array<TlsRptRecord & { policyDomain: string; count: number }>>;
  flush(): Promise<void>;
  close(): Promise<void>;
};
