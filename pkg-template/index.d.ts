// Type declarations for the `mtasts` package (hand-written; the runtime is Rust compiled to
// WebAssembly). The same declarations describe both entries: Node (`node` condition, ready at import)
// and the browser (`default` condition, call `await init()` first).

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
   * MX host patterns, `[*.]domain` in A-label form (RFC 8461 §3.2, matched per §4.1). At least
   * one unless `mode` is `none`.
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
 * `invalid-argument`: a function was given a value of the wrong type (e.g. a number as policy text).
 */
export type MtaStsErrorCode =
  | 'not-initialized'
  | 'invalid-argument'
  | 'record-invalid'
  | 'record-multiple'
  | 'policy-invalid'
  | 'mx-host-invalid'
  | 'mx-pattern-invalid'
  | (string & {});

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
}

/**
 * Loads the WebAssembly module. Browser entry: required before any other call (they throw
 * `MtaStsError` `not-initialized` until it resolves); idempotent, concurrent calls share one promise;
 * by default fetches `wasm/mtasts_bg.wasm` next to the package's JS. `input` may be a URL, a
 * `Response`, the module's bytes or a compiled `WebAssembly.Module`.
 * Node entry: the module is loaded at import time and `init()` resolves at once.
 */
export function init(
  input?: string | URL | Request | Response | Promise<Response> | BufferSource | WebAssembly.Module,
): Promise<void>;

/**
 * Parses one MTA-STS TXT record (the strings of one TXT record already concatenated), RFC 8461 §3.1.
 * @throws {MtaStsError} `record-invalid` (with `problem`, `column`, `rfc`).
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
 * extensions; for keys other than `mx` the first occurrence counts. Bytes must be UTF-8.
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
 * hosts are converted to A-labels first.
 * @throws {MtaStsError} `mx-host-invalid` or `mx-pattern-invalid`.
 */
export function matchMx(patternsOrPolicy: readonly string[] | { readonly mx: readonly string[] }, host: string): boolean;
