// The host contracts: what the core asks a host to do, and the answers it expects. The Node entry
// has its own hosts (node:dns, node:https, node:net); implement these to run discovery on another
// DNS (DNS over HTTPS, a test table) or fetch (a browser's, a proxy's), e.g. for `PolicyResolver`
// or `checkDomain`. A host never throws for a network failure: it answers `{ ok: false, ... }`
// with its own classification, and the core decides what it means (RFC 8461 §3.3, §5, §10.2).

/**
 * A DNS failure. `kind: 'none'` is proof of absence (NXDOMAIN, or the name has no record of the
 * type: NODATA); `temporary` is everything else (timeout, SERVFAIL, REFUSED, network) — never
 * answer `none` for a failure you cannot tell apart, or a cached policy may be dropped.
 */
export interface DnsFailure {
  ok: false;
  kind: 'none' | 'temporary';
  /** The resolver's code, e.g. `ENOTFOUND`, `ENODATA`, `ETIMEOUT`, `ESERVFAIL`. */
  detail: string;
  message: string;
}

/** The TXT part of a DNS host: all discovery needs (RFC 8461 §3.1, RFC 8460 §3). */
export interface TxtDnsHost {
  /**
   * The TXT records at `name`, each as its list of character-strings, kept apart (the core
   * concatenates them, RFC 8461 §3.1) and in any order.
   */
  resolveTxt(name: string): Promise<{ ok: true; records: string[][] } | DnsFailure>;
}

/** A whole DNS host: TXT, MX and addresses (the checker's and the delivery's). */
export interface DnsHost extends TxtDnsHost {
  /** MX records at `name` (RFC 5321 §5.1); an empty list is NODATA, the core treats it as no MX. */
  resolveMx(name: string): Promise<{ ok: true; records: Array<{ exchange: string; priority: number }> } | DnsFailure>;
  /**
   * A and AAAA of `name` (`family` 4 or 6 for one of them). `ok` when either family has data,
   * `none` only when both say there is none, `temporary` otherwise.
   */
  resolveAddresses(
    name: string,
    family?: 0 | 4 | 6,
  ): Promise<{ ok: true; addresses: Array<{ address: string; family: 4 | 6 }> } | DnsFailure>;
}

/**
 * How a policy fetch failed, as the host classifies it (the core's FetchFailure): `certificate` —
 * the policy host's certificate is not valid for `mta-sts.<domain>` (RFC 8461 §3.3), `tls`,
 * `connect`, `dns` (the policy host name did not resolve), `timeout` (the whole fetch),
 * `too-large` (the body passed 64 KiB: abort the transfer), `truncated` (the connection ended
 * before the whole body; give `received` and `expected`), `protocol` (anything else).
 */
export type FetchFailureKind = 'certificate' | 'tls' | 'connect' | 'dns' | 'timeout' | 'too-large' | 'truncated' | 'protocol';

/** The HTTPS answer the core judges: any status, any type; the core applies RFC 8461 §3.3. */
export interface HttpsResponse {
  ok: true;
  status: number;
  /** The `Content-Type` header as sent, or null. */
  contentType: string | null;
  /** The `Location` header as sent, or null (never follow it: RFC 8461 §3.3). */
  location: string | null;
  /** The body, at most 64 KiB (stop reading there and answer `too-large` instead). */
  body: Uint8Array;
  /** The local address the fetch connected from, when known (RFC 8460 §4.4 `sending-mta-ip`). */
  localAddress?: string;
}

export interface HttpsFailure {
  ok: false;
  kind: FetchFailureKind;
  /** The host's own code, e.g. `ECONNREFUSED`, `CERT_HAS_EXPIRED`, `ETIMEDOUT`. */
  detail: string;
  message: string;
  /** For `truncated`: bytes received and the declared length (absent when none was declared). */
  received?: number;
  expected?: number;
  localAddress?: string;
}

/**
 * The HTTPS part of discovery: GET `url` (always `https://mta-sts.<domain>/.well-known/mta-sts.txt`)
 * with the certificate checked for the URL's host against trusted roots (RFC 8461 §3.3), no
 * redirects followed, no HTTP cache, a time limit and the 64 KiB cap.
 */
export interface HttpsHost {
  get(url: string): Promise<HttpsResponse | HttpsFailure>;
}

/**
 * The connection `connectMx` hands over (`MxConnection.socket`): with the Node entry's types it is
 * Node's `net.Socket` (a `tls.TLSSocket` after STARTTLS; node.d.ts merges it in, so browser code
 * needs no Node types).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface MxSocket {}

/** `WebAssembly.Module` where the program's lib declares it (DOM, webworker), else nothing. */
export type WasmModule = typeof globalThis extends { WebAssembly: { Module: abstract new (...args: never[]) => infer M } } ? M : never;
