//! Errors: one small enum per concern, wrapped by [`Error`].
//!
//! `code()` is stable and kebab-case, identical in Rust and JS (`err.code`). Parse errors carry the
//! first [`Diagnostic`] found, whose own code (`problem()`) names the exact rule broken. Every error
//! maps to one TLS-RPT result type (RFC 8460 §4.3).

use crate::diagnostic::{shown, Diagnostic};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::Deserialize;
use std::fmt;

/// The `_mta-sts` TXT record (RFC 8461 §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// More than one TXT record begins with `v=STSv1;` (§3.1: the number of records must be one).
    Multiple { count: usize },
    /// The one record does not follow the §3.1 grammar.
    Invalid(Diagnostic),
}

/// The `_smtp._tls` TXT record (RFC 8460 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsRptRecordError {
    /// More than one TXT record begins with `v=TLSRPTv1;` (§3: "If the number of resulting
    /// records is not one, senders MUST assume the recipient domain does not implement TLSRPT").
    Multiple { count: usize },
    /// The one record does not follow the §3 grammar.
    Invalid(Diagnostic),
}

/// The policy file (RFC 8461 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text does not follow the §3.2 grammar or breaks one of its rules.
    Invalid(Diagnostic),
}

/// MX host matching (RFC 8461 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MxError {
    /// The host name to match is not a domain name.
    HostInvalid { host: String, reason: &'static str },
    /// A pattern given to the matcher is not `[*.]domain` in A-label form.
    PatternInvalid { pattern: String, reason: String },
}

/// DNS lookups made for discovery (RFC 8461 §3.1, §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsError {
    /// Timeout, SERVFAIL, refusal: a temporary failure, never the same as "no record" (§10.2).
    Temporary { name: String, detail: String },
}

/// A domain name given by the caller (a recipient or policy domain).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainError {
    Invalid { domain: String, reason: String },
}

/// The MX certificate (RFC 8461 §4.2). Codes are the RFC 8460 §4.3.2.2 result types.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateError {
    /// No SAN dNSName matches the MX host name.
    HostMismatch { host: String },
    /// Expired or not yet valid at the injected time.
    Expired { detail: String },
    /// Does not chain to a trusted root (self-signed, unknown CA, missing intermediate).
    NotTrusted { detail: String },
    /// Any other failure: unparsable certificate, bad signature, wrong key usage.
    Invalid { detail: String },
}

impl CertificateError {
    pub fn from_webpki(e: &webpki::Error) -> CertificateError {
        use webpki::Error as W;
        let detail = format!("{e:?}");
        match e {
            W::CertExpired { .. } | W::CertNotValidYet { .. } => {
                CertificateError::Expired { detail }
            }
            W::UnknownIssuer | W::CertDistrusted => CertificateError::NotTrusted { detail },
            W::CertNotValidForName(_) => CertificateError::HostMismatch {
                host: String::new(),
            },
            _ => CertificateError::Invalid { detail },
        }
    }

    pub(crate) fn for_host(self, host: &str) -> CertificateError {
        match self {
            CertificateError::HostMismatch { .. } => CertificateError::HostMismatch {
                host: host.to_string(),
            },
            other => other,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CertificateError::HostMismatch { .. } => "certificate-host-mismatch",
            CertificateError::Expired { .. } => "certificate-expired",
            CertificateError::NotTrusted { .. } => "certificate-not-trusted",
            CertificateError::Invalid { .. } => "validation-failure",
        }
    }
}

/// The SMTP dialogue before TLS (RFC 5321, RFC 3207).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpError {
    /// The server answered the greeting, EHLO or HELO with an error reply.
    Refused {
        during: &'static str,
        code: u16,
        text: String,
    },
    /// STARTTLS was offered but answered with something other than 220.
    StartTlsRefused { code: u16, text: String },
    /// STARTTLS is not offered at all (only when the caller requires it).
    StartTlsNotSupported,
    /// The connection closed mid-dialogue.
    Closed { during: &'static str },
    /// The server does not speak SMTP.
    Protocol { detail: String },
    /// The server sent bytes after its 220 to STARTTLS, before TLS began.
    DataBeforeTls { bytes: usize },
    /// The caller's EHLO name cannot be sent.
    BadHeloName { name: String },
    /// The server sent a reply (or bytes of one) while no command was waiting for it: every
    /// later reply would answer the wrong command (RFC 5321 §4.2: each command gets one reply).
    OutOfStep { detail: String },
    /// A reply that is not one of the codes the command may get (RFC 5321 §4.3.2), e.g. 250 to
    /// DATA, which must be 354 before any of the message is sent.
    UnexpectedReply {
        command: &'static str,
        code: u16,
        text: String,
    },
    /// The caller asked for a command the session cannot take now (one at a time, after the
    /// previous reply) or with an argument that would break the command line.
    BadCommand { detail: String },
}

impl SmtpError {
    pub fn code(&self) -> &'static str {
        match self {
            SmtpError::Refused { .. } => "smtp-refused",
            SmtpError::StartTlsRefused { .. } => "starttls-refused",
            SmtpError::StartTlsNotSupported => "starttls-not-supported",
            SmtpError::Closed { .. } => "smtp-closed",
            SmtpError::Protocol { .. } => "smtp-protocol-error",
            SmtpError::DataBeforeTls { .. } => "smtp-data-before-tls",
            SmtpError::BadHeloName { .. } => "smtp-helo-invalid",
            SmtpError::OutOfStep { .. } => "smtp-out-of-step",
            SmtpError::UnexpectedReply { .. } => "smtp-unexpected-reply",
            SmtpError::BadCommand { .. } => "invalid-argument",
        }
    }

    /// Worth trying again later. Only a 5yz refusal of the session is final (RFC 5321 §4.2.1);
    /// missing or refused TLS is a temporary failure, as MTAs that require TLS treat it (the MX
    /// may offer TLS again, the policy may change).
    pub fn is_temporary(&self) -> bool {
        match self {
            SmtpError::Refused { code, .. } => *code < 500,
            SmtpError::StartTlsRefused { .. }
            | SmtpError::StartTlsNotSupported
            | SmtpError::Closed { .. }
            | SmtpError::Protocol { .. }
            | SmtpError::DataBeforeTls { .. }
            | SmtpError::OutOfStep { .. }
            | SmtpError::UnexpectedReply { .. } => true,
            SmtpError::BadHeloName { .. } | SmtpError::BadCommand { .. } => false,
        }
    }
}

/// Policy fetching (RFC 8461 §3.3), as the host reported it and the core judged it.
/// How the host's fetch failed before a complete response was in hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchFailure {
    /// The overall time limit passed (connect, TLS, headers and body together).
    Timeout,
    /// The body passed [`crate::fetch::MAX_POLICY_BYTES`] and the transfer was aborted.
    TooLarge,
    /// The connection ended (closed or reset) before the whole body arrived: fewer bytes than the
    /// Content-Length, or a chunked body without its last chunk. `received` bytes came;
    /// `expected` is the declared length, `None` when the response declared none. Read by
    /// [`FetchFailure::from_host`] from the host's `received` and `expected`.
    #[serde(skip_deserializing)]
    Truncated {
        received: u64,
        expected: Option<u64>,
    },
    /// The policy host's certificate did not validate for `mta-sts.<domain>` (§3.3: "the
    /// certificate ... MUST be valid for the 'mta-sts' host name").
    Certificate,
    /// TLS failed for another reason (no common version or cipher, handshake aborted).
    Tls,
    /// TCP connection refused, reset or unreachable.
    Connect,
    /// The policy host name did not resolve.
    Dns,
    /// The server did not speak HTTP properly.
    Protocol,
}

/// Why a fetched policy cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    Failed {
        kind: FetchFailure,
        detail: String,
    },
    /// §3.3: "Policies fetched via HTTPS are only valid if the HTTP response code is 200 (OK)."
    HttpStatus {
        status: u16,
    },
    /// §3.3: "HTTP 3xx redirects MUST NOT be followed."
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// §3.2: the media type MUST be "text/plain".
    ContentType {
        found: Option<String>,
    },
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Failed {
                kind: FetchFailure::Timeout,
                ..
            } => "policy-fetch-timeout",
            FetchError::Failed {
                kind: FetchFailure::TooLarge,
                ..
            } => "policy-too-large",
            FetchError::Failed {
                kind: FetchFailure::Truncated { .. },
                ..
            } => "policy-truncated",
            FetchError::Failed {
                kind: FetchFailure::Certificate,
                ..
            } => "policy-webpki-invalid",
            FetchError::Failed { .. } => "policy-fetch-error",
            FetchError::HttpStatus { .. } => "policy-http-status",
            FetchError::Redirect { .. } => "policy-redirect",
            FetchError::ContentType { .. } => "policy-content-type",
        }
    }

    /// RFC 8460 §4.3.2.1 result types for policy failures.
    pub fn tlsrpt_result(&self) -> &'static str {
        match self {
            FetchError::Failed {
                kind: FetchFailure::Certificate,
                ..
            } => "sts-webpki-invalid",
            FetchError::ContentType { .. } => "sts-policy-invalid",
            _ => "sts-policy-fetch-error",
        }
    }

    pub fn rfc(&self) -> &'static str {
        match self {
            FetchError::ContentType { .. } => "RFC 8461 §3.2",
            _ => "RFC 8461 §3.3",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Failed {
                kind: FetchFailure::Truncated { received, expected },
                detail,
            } => {
                match expected {
                    Some(expected) => write!(
                        f,
                        "the policy body was cut off: the connection ended after {received} of {expected} bytes"
                    )?,
                    None => write!(
                        f,
                        "the policy body was cut off: the connection ended after {received} bytes, before the body's end"
                    )?,
                }
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            FetchError::Failed { kind, detail } => {
                let what = match kind {
                    FetchFailure::Truncated { .. } => "the policy body was cut off",
                    FetchFailure::Timeout => "the policy fetch timed out",
                    FetchFailure::TooLarge => "the policy is larger than 64 KiB (65536 bytes)",
                    FetchFailure::Certificate => {
                        "the policy host's certificate is not valid for its name"
                    }
                    FetchFailure::Tls => "TLS with the policy host failed",
                    FetchFailure::Connect => "could not connect to the policy host",
                    FetchFailure::Dns => "the policy host name did not resolve",
                    FetchFailure::Protocol => "the policy host did not answer HTTP properly",
                };
                if detail.is_empty() {
                    f.write_str(what)
                } else {
                    write!(f, "{what} ({detail})")
                }
            }
            FetchError::HttpStatus { status } => {
                write!(f, "expected HTTP status 200, found {status}")
            }
            FetchError::Redirect { status, location } => match location {
                Some(l) => write!(
                    f,
                    "the policy host redirects ({status} to {}); redirects must not be followed",
                    crate::diagnostic::shown(l)
                ),
                None => write!(
                    f,
                    "the policy host redirects ({status}); redirects must not be followed"
                ),
            },
            FetchError::ContentType { found } => match found {
                Some(t) => write!(
                    f,
                    "expected media type text/plain, found {}",
                    crate::diagnostic::shown(t)
                ),
                None => f.write_str("expected media type text/plain, found no Content-Type"),
            },
        }
    }
}

/// The host's network steps of a delivery, as the host reported them (RFC 5321 §5.1, §4.5.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// The MX lookup failed temporarily (timeout, SERVFAIL): not the same as no MX.
    MxLookup { domain: String, detail: String },
    /// The MX host name does not exist or has no address (NXDOMAIN / NODATA).
    AddressNotFound { host: String, detail: String },
    /// The address lookup of an MX host failed temporarily.
    AddressLookup { host: String, detail: String },
    /// The TCP connection could not be made (refused, unreachable, reset).
    Refused { address: String, detail: String },
    /// No answer in time: `during` names the step (TCP connect, a reply, the TLS handshake).
    Timeout { during: String, ms: u64 },
    /// STARTTLS was accepted but the TLS handshake failed (alert, protocol version, garbage).
    TlsHandshake { detail: String },
    /// RFC 6890: the MX host's address is in a special-purpose range (loopback, private,
    /// link-local, ...) that a sender on the internet does not dial (src/delivery/address.rs).
    AddressRefused {
        host: String,
        address: String,
        kind: &'static str,
        rfc: &'static str,
    },
    /// The DNS host gave something that is no numeric IP address: dialling it would hand a name
    /// to the OS's resolver, outside the one DNS view of the delivery.
    AddressInvalid { host: String, address: String },
}

impl ConnectError {
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::MxLookup { .. } => "mx-lookup-failed",
            ConnectError::AddressNotFound { .. } => "mx-address-not-found",
            ConnectError::AddressLookup { .. } => "mx-address-lookup-failed",
            ConnectError::Refused { .. } => "mx-connect-failed",
            ConnectError::Timeout { .. } => "mx-timeout",
            ConnectError::TlsHandshake { .. } => "tls-handshake-failed",
            ConnectError::AddressRefused { .. } => "mx-address-refused",
            ConnectError::AddressInvalid { .. } => "mx-address-invalid",
        }
    }

    /// The host's own word for the failure (a resolver or socket code such as `ECONNREFUSED`).
    pub fn detail(&self) -> Option<&str> {
        match self {
            ConnectError::MxLookup { detail, .. }
            | ConnectError::AddressNotFound { detail, .. }
            | ConnectError::AddressLookup { detail, .. }
            | ConnectError::Refused { detail, .. }
            | ConnectError::TlsHandshake { detail } => Some(detail),
            ConnectError::Timeout { .. }
            | ConnectError::AddressRefused { .. }
            | ConnectError::AddressInvalid { .. } => None,
        }
    }

    /// A host that does not exist stays so, and so does an address no sender dials (until the
    /// DNS changes, as for a null MX); everything else may pass.
    pub fn is_temporary(&self) -> bool {
        !matches!(
            self,
            ConnectError::AddressNotFound { .. }
                | ConnectError::AddressRefused { .. }
                | ConnectError::AddressInvalid { .. }
        )
    }
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        Error::Connect(e)
    }
}

/// Why mail for a domain cannot be delivered, or not now (RFC 8461 §5; RFC 5321 §5.1; RFC 7505).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    /// RFC 7505: the domain publishes a null MX ("." at preference 0): it accepts no mail.
    NullMx,
    /// RFC 8461 §5: in enforce mode no MX host matches the policy; delivery must not happen.
    NoMatchingMx { hosts: Vec<String> },
    /// Every candidate was tried and none could be used.
    AllFailed { attempts: usize, temporary: bool },
    /// RFC 5321 §5.1: the recipient domain does not exist (NXDOMAIN for its MX, or for its own
    /// address when it has no MX): no retry can deliver.
    DomainNotFound { domain: String },
    /// RFC 5321 §5.1: the domain has MX records but none names a usable host.
    NoUsableMx { domain: String, found: usize },
    /// The recipient is an address literal (`user@[192.0.2.1]`, RFC 5321 §4.1.3): it has no domain
    /// whose MTA-STS policy could apply, so the relay does not route it.
    AddressLiteral { literal: String },
    /// The recipient has no domain part (a bare `postmaster`, RFC 5321 §4.5.1): nothing to route.
    NoDomain { address: String },
    /// RFC 8461 §5, RFC 5321 §5.1: a connection to one domain's MX, under that domain's policy,
    /// was asked to take a recipient of another domain (whose MX and policy may differ).
    OtherDomain { address: String, domain: String },
    /// The overall time for one recipient's delivery ran out (kept below the sending MTA's own
    /// RCPT timeout, so it hears a 4xx instead of giving up on a silent relay).
    DeadlineExceeded { ms: u64, attempts: usize },
}

impl DeliveryError {
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::NullMx => "mx-null",
            DeliveryError::NoMatchingMx { .. } => "mx-not-in-policy",
            DeliveryError::AllFailed { .. } => "delivery-failed",
            DeliveryError::DomainNotFound { .. } => "domain-not-found",
            DeliveryError::NoUsableMx { .. } => "mx-unusable",
            DeliveryError::AddressLiteral { .. } => "recipient-address-literal",
            DeliveryError::NoDomain { .. } => "recipient-no-domain",
            DeliveryError::OtherDomain { .. } => "recipient-other-domain",
            DeliveryError::DeadlineExceeded { .. } => "delivery-deadline",
        }
    }

    pub fn is_temporary(&self) -> bool {
        match self {
            DeliveryError::NullMx
            | DeliveryError::DomainNotFound { .. }
            | DeliveryError::NoUsableMx { .. }
            | DeliveryError::AddressLiteral { .. }
            | DeliveryError::NoDomain { .. }
            | DeliveryError::OtherDomain { .. } => false,
            // RFC 8461 §5: a sender that cannot deliver under an enforce policy keeps trying
            // later; the policy or the MX set may change.
            DeliveryError::NoMatchingMx { .. } | DeliveryError::DeadlineExceeded { .. } => true,
            DeliveryError::AllFailed { temporary, .. } => *temporary,
        }
    }

    /// The failure after every candidate was tried. RFC 8461 §5: under enforce a failure is never
    /// final (the policy is checked again before the next try); otherwise it is final only when
    /// every attempt failed for good (a 5yz refusal, a host that does not exist).
    pub fn all_failed(enforce: bool, attempts_temporary: &[bool]) -> DeliveryError {
        let temporary =
            enforce || attempts_temporary.iter().any(|&t| t) || attempts_temporary.is_empty();
        DeliveryError::AllFailed {
            attempts: attempts_temporary.len(),
            temporary,
        }
    }
}

impl From<DeliveryError> for Error {
    fn from(e: DeliveryError) -> Self {
        Error::Delivery(e)
    }
}

/// The aggregate TLS report (RFC 8460 §4): what makes a report unbuildable or unreadable.
/// Tolerable oddities of a report read are diagnostics (`ReportProblem`), not errors.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportError {
    /// The report text is larger than the reader accepts.
    TooLarge { size: usize, limit: usize },
    /// The text is not JSON (RFC 8460 §4.4: the report is a JSON object).
    NotJson {
        line: usize,
        column: usize,
        detail: String,
    },
    /// Arrays and objects nest deeper than any report does.
    TooDeep { limit: usize },
    /// The top-level value is not a JSON object.
    NotObject { found: &'static str },
    /// A member the report cannot be read without is absent.
    Missing { path: String },
    /// A member has the wrong JSON type.
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A session count is not a non-negative integer (at most 2^53 - 1, so JS reads it exactly).
    BadCount { path: String, found: String },
    /// A date-time is not RFC 3339 (or the report day is not `YYYY-MM-DD`).
    BadDate { path: String, found: String },
    /// A session result is neither `success` nor an RFC 8460 §4.3 result type.
    ResultType { found: String },
    /// Another input of the builder is unusable (an empty organization, contact, or count).
    Input { detail: String },
}

impl ReportError {
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::TooLarge { .. } => "tlsrpt-report-too-large",
            ReportError::NotJson { .. } => "tlsrpt-report-not-json",
            ReportError::TooDeep { .. } => "tlsrpt-report-too-deep",
            ReportError::NotObject { .. } => "tlsrpt-report-not-object",
            ReportError::Missing { .. } => "tlsrpt-report-field-missing",
            ReportError::WrongType { .. } => "tlsrpt-report-wrong-type",
            ReportError::BadCount { .. } => "tlsrpt-report-count-invalid",
            ReportError::BadDate { .. } => "tlsrpt-report-date-invalid",
            ReportError::ResultType { .. } => "tlsrpt-report-result-type-invalid",
            ReportError::Input { .. } => "tlsrpt-report-input-invalid",
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::TooLarge { size, limit } => {
                write!(f, "the report is {size} bytes; at most {limit} bytes are read")
            }
            ReportError::NotJson { line, column, detail } => {
                write!(f, "line {line}, column {column}: the report is not JSON: {detail}")
            }
            ReportError::TooDeep { limit } => write!(
                f,
                "the report nests arrays and objects deeper than {limit} levels"
            ),
            ReportError::NotObject { found } => {
                write!(f, "expected the report to be a JSON object, found {found}")
            }
            ReportError::Missing { path } => write!(f, "expected {path}, found none"),
            ReportError::WrongType { path, expected, found } => {
                write!(f, "expected {path} to be {expected}, found {found}")
            }
            ReportError::BadCount { path, found } => write!(
                f,
                "expected {path} to be a non-negative integer (at most 2^53 - 1), found {}",
                shown(found)
            ),
            ReportError::BadDate { path, found } => {
                write!(f, "expected {path} to be a date-time (RFC 3339), found {}", shown(found))
            }
            ReportError::ResultType { found } => write!(
                f,
                "expected success or an RFC 8460 result type (starttls-not-supported, certificate-host-mismatch, ...), found {}",
                shown(found)
            ),
            ReportError::Input { detail } => f.write_str(detail),
        }
    }
}

impl From<ReportError> for Error {
    fn from(e: ReportError) -> Self {
        Error::Report(e)
    }
}

/// The Postfix socketmap protocol (socketmap_table(5)): netstrings `len:data,` carrying `name key`
/// requests. A malformed netstring ends the connection it came on (nothing after it can be framed);
/// a well-framed request that is not `name key` is answered `PERM` and the connection goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketmapError {
    /// The length prefix holds something other than decimal digits before the `:`.
    NetstringLength { found: String },
    /// The length prefix has more digits than any allowed length needs.
    NetstringLengthDigits { digits: usize, limit: usize },
    /// The announced length is more than a request may be.
    RequestTooLarge { length: u64, limit: usize },
    /// The byte after the announced data is not the closing `,`.
    NetstringComma { found: u8 },
    /// The peer closed the connection in the middle of a netstring.
    NetstringTruncated { buffered: usize },
    /// The request is not `name SP key` in UTF-8 (empty name or key, no space, control bytes).
    Request { detail: String },
    /// A reply would be longer than socketmap_table(5) allows (100000 bytes).
    ReplyTooLarge { size: usize, limit: usize },
}

impl SocketmapError {
    pub fn code(&self) -> &'static str {
        match self {
            SocketmapError::NetstringLength { .. } => "socketmap-netstring-length",
            SocketmapError::NetstringLengthDigits { .. } => "socketmap-netstring-length-digits",
            SocketmapError::RequestTooLarge { .. } => "socketmap-request-too-large",
            SocketmapError::NetstringComma { .. } => "socketmap-netstring-comma",
            SocketmapError::NetstringTruncated { .. } => "socketmap-netstring-truncated",
            SocketmapError::Request { .. } => "socketmap-request-invalid",
            SocketmapError::ReplyTooLarge { .. } => "socketmap-reply-too-large",
        }
    }

    /// Whether the connection must be closed: the framing is lost, nothing after it can be read.
    pub fn closes_connection(&self) -> bool {
        !matches!(
            self,
            SocketmapError::Request { .. } | SocketmapError::ReplyTooLarge { .. }
        )
    }
}

impl fmt::Display for SocketmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketmapError::NetstringLength { found } => write!(
                f,
                "expected a netstring length of decimal digits and \":\", found {}",
                shown(found)
            ),
            SocketmapError::NetstringLengthDigits { digits, limit } => write!(
                f,
                "the netstring length has more than {limit} digits ({digits} so far)"
            ),
            SocketmapError::RequestTooLarge { length, limit } => write!(
                f,
                "the request announces {length} bytes; at most {limit} bytes are accepted"
            ),
            SocketmapError::NetstringComma { found } => write!(
                f,
                "expected \",\" after the netstring data, found byte 0x{found:02x}"
            ),
            SocketmapError::NetstringTruncated { buffered } => write!(
                f,
                "the connection ended inside a netstring ({buffered} bytes of it received)"
            ),
            SocketmapError::Request { detail } => {
                write!(f, "expected a request \"name key\": {detail}")
            }
            SocketmapError::ReplyTooLarge { size, limit } => write!(
                f,
                "the reply would be {size} bytes; socketmap replies are at most {limit} bytes"
            ),
        }
    }
}

impl From<SocketmapError> for Error {
    fn from(e: SocketmapError) -> Self {
        Error::Socketmap(e)
    }
}

/// Any error of the crate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    Record(RecordError),
    TlsRptRecord(TlsRptRecordError),
    Policy(PolicyError),
    Mx(MxError),
    Fetch(FetchError),
    Dns(DnsError),
    Domain(DomainError),
    Certificate(CertificateError),
    Smtp(SmtpError),
    Delivery(DeliveryError),
    Connect(ConnectError),
    Report(ReportError),
    Socketmap(SocketmapError),
    /// A failure the host observed and classified itself (TCP connect refused, TLS alert, timeout),
    /// carried through the core's decisions unchanged.
    Host {
        code: String,
        message: String,
        temporary: bool,
        tlsrpt: String,
    },
}

impl From<SmtpError> for Error {
    fn from(e: SmtpError) -> Self {
        Error::Smtp(e)
    }
}

impl From<CertificateError> for Error {
    fn from(e: CertificateError) -> Self {
        Error::Certificate(e)
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        Error::Fetch(e)
    }
}
impl From<DnsError> for Error {
    fn from(e: DnsError) -> Self {
        Error::Dns(e)
    }
}
impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        Error::Domain(e)
    }
}

impl From<RecordError> for Error {
    fn from(e: RecordError) -> Self {
        Error::Record(e)
    }
}
impl From<TlsRptRecordError> for Error {
    fn from(e: TlsRptRecordError) -> Self {
        Error::TlsRptRecord(e)
    }
}
impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Error::Policy(e)
    }
}
impl From<MxError> for Error {
    fn from(e: MxError) -> Self {
        Error::Mx(e)
    }
}

impl Error {
    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Record(RecordError::Multiple { .. }) => "record-multiple",
            Error::Record(RecordError::Invalid(_)) => "record-invalid",
            Error::TlsRptRecord(TlsRptRecordError::Multiple { .. }) => "tlsrpt-record-multiple",
            Error::TlsRptRecord(TlsRptRecordError::Invalid(_)) => "tlsrpt-record-invalid",
            Error::Policy(PolicyError::Invalid(_)) => "policy-invalid",
            Error::Mx(MxError::HostInvalid { .. }) => "mx-host-invalid",
            Error::Mx(MxError::PatternInvalid { .. }) => "mx-pattern-invalid",
            Error::Fetch(e) => e.code(),
            Error::Dns(DnsError::Temporary { .. }) => "dns-temporary",
            Error::Domain(DomainError::Invalid { .. }) => "domain-invalid",
            Error::Certificate(e) => e.code(),
            Error::Smtp(e) => e.code(),
            Error::Delivery(e) => e.code(),
            Error::Connect(e) => e.code(),
            Error::Report(e) => e.code(),
            Error::Socketmap(e) => e.code(),
            Error::Host { .. } => "host-failure",
        }
    }

    /// The code to show: for host failures, the host's own code.
    pub fn code_str(&self) -> &str {
        match self {
            Error::Host { code, .. } => code,
            _ => self.code(),
        }
    }

    /// Whether the failure may pass: DNS and SMTP troubles that a later attempt may not meet.
    pub fn is_temporary(&self) -> bool {
        match self {
            // §4.2 failures keep mail queued: the certificate may be fixed, the policy changed.
            Error::Dns(_) | Error::Certificate(_) | Error::Fetch(_) => true,
            Error::Smtp(e) => e.is_temporary(),
            Error::Delivery(e) => e.is_temporary(),
            Error::Connect(e) => e.is_temporary(),
            Error::Host { temporary, .. } => *temporary,
            _ => false,
        }
    }

    /// The diagnostic behind a parse error: its `code` is the exact problem.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Error::Record(RecordError::Invalid(d))
            | Error::TlsRptRecord(TlsRptRecordError::Invalid(d))
            | Error::Policy(PolicyError::Invalid(d)) => Some(d),
            _ => None,
        }
    }

    /// The RFC section of the rule broken.
    pub fn rfc(&self) -> &'static str {
        match self {
            Error::Record(RecordError::Multiple { .. }) => "RFC 8461 §3.1",
            Error::TlsRptRecord(TlsRptRecordError::Multiple { .. }) => "RFC 8460 §3",
            Error::Mx(_) => "RFC 8461 §4.1",
            Error::Fetch(e) => e.rfc(),
            Error::Dns(_) => "RFC 8461 §3.3, §10.2",
            Error::Domain(_) => "RFC 5321 §4.1.2",
            Error::Certificate(_) => "RFC 8461 §4.2",
            Error::Smtp(
                SmtpError::StartTlsRefused { .. }
                | SmtpError::StartTlsNotSupported
                | SmtpError::DataBeforeTls { .. },
            ) => "RFC 3207 §4",
            Error::Smtp(SmtpError::OutOfStep { .. } | SmtpError::UnexpectedReply { .. }) => {
                "RFC 5321 §4.3.2"
            }
            Error::Smtp(_) => "RFC 5321 §4.2",
            Error::Delivery(DeliveryError::NullMx) => "RFC 7505 §3",
            Error::Delivery(
                DeliveryError::DomainNotFound { .. } | DeliveryError::NoUsableMx { .. },
            ) => "RFC 5321 §5.1",
            Error::Delivery(DeliveryError::AddressLiteral { .. }) => "RFC 5321 §4.1.3",
            Error::Delivery(DeliveryError::NoDomain { .. }) => "RFC 5321 §4.5.1",
            Error::Delivery(DeliveryError::OtherDomain { .. }) => "RFC 5321 §5.1",
            Error::Delivery(_) => "RFC 8461 §5",
            Error::Connect(ConnectError::TlsHandshake { .. }) => "RFC 3207 §4.1",
            Error::Connect(ConnectError::AddressRefused { rfc, .. }) => rfc,
            Error::Connect(_) => "RFC 5321 §5.1",
            Error::Report(_) => "RFC 8460 §4",
            Error::Socketmap(_) => "socketmap_table(5)",
            Error::Host { code, .. } if code.starts_with("certificate-") => "RFC 8461 §4.2",
            Error::Host { .. } => "",
            Error::Record(RecordError::Invalid(d))
            | Error::TlsRptRecord(TlsRptRecordError::Invalid(d))
            | Error::Policy(PolicyError::Invalid(d)) => d.rfc,
        }
    }

    /// The RFC 8460 §4.3 result type a sender reports for this failure. A broken record or policy
    /// means the recipient's policy could not be validated (`sts-policy-invalid`).
    pub fn tlsrpt_result(&self) -> &str {
        match self {
            Error::Host { tlsrpt, .. } => tlsrpt,
            Error::Record(_) | Error::Policy(_) => "sts-policy-invalid",
            // Spec: a broken TLS-RPT record fails no TLS session; it only means nothing can be
            // reported. RFC 8460 §4.3.2.3's catch-all is the closest type.
            Error::TlsRptRecord(_) => "validation-failure",
            Error::Fetch(e) => e.tlsrpt_result(),
            // RFC 8460 has no DNS type; a policy that cannot be discovered is a fetch error.
            Error::Dns(_) => "sts-policy-fetch-error",
            Error::Certificate(e) => e.code(),
            // RFC 8460 §4.3.2.1: the MX did not (usably) support STARTTLS.
            Error::Smtp(SmtpError::StartTlsRefused { .. } | SmtpError::StartTlsNotSupported) => {
                "starttls-not-supported"
            }
            // RFC 8460 §4.3.2.3: failures with no type of their own.
            Error::Smtp(_)
            | Error::Mx(_)
            | Error::Domain(_)
            | Error::Delivery(_)
            | Error::Connect(_) => "validation-failure",
            // Spec: a report that cannot be built or read is no session failure and never enters a
            // report; §4.3.3's general type keeps this one table total.
            Error::Report(_) => "validation-failure",
            // Spec: a socketmap client's mistake fails no TLS session either.
            Error::Socketmap(_) => "validation-failure",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Record(RecordError::Multiple { count }) => write!(
                f,
                "expected one TXT record beginning with \"v=STSv1;\", found {count}"
            ),
            Error::TlsRptRecord(TlsRptRecordError::Multiple { count }) => write!(
                f,
                "expected one TXT record beginning with \"v=TLSRPTv1;\", found {count}"
            ),
            Error::Record(RecordError::Invalid(d))
            | Error::TlsRptRecord(TlsRptRecordError::Invalid(d))
            | Error::Policy(PolicyError::Invalid(d)) => {
                if d.line > 0 {
                    write!(f, "line {}, column {}: {}", d.line, d.column, d.message)
                } else {
                    write!(f, "column {}: {}", d.column, d.message)
                }
            }
            Error::Mx(MxError::HostInvalid { host, reason }) => {
                write!(
                    f,
                    "host {} is not a domain name: {reason}",
                    shown(host)
                )
            }
            Error::Mx(MxError::PatternInvalid { pattern, reason }) => {
                write!(
                    f,
                    "mx pattern {} is invalid: {reason}",
                    shown(pattern)
                )
            }
            Error::Fetch(e) => e.fmt(f),
            Error::Dns(DnsError::Temporary { name, detail }) => write!(
                f,
                "DNS lookup of {name} failed temporarily ({detail}); this is not the same as no record"
            ),
            Error::Domain(DomainError::Invalid { domain, reason }) => {
                write!(f, "{} is not a domain name: {reason}", shown(domain))
            }
            Error::Certificate(CertificateError::HostMismatch { host }) => {
                write!(f, "the certificate has no subject alternative name matching {host}")
            }
            Error::Certificate(CertificateError::Expired { detail }) => {
                write!(f, "the certificate is expired or not yet valid ({detail})")
            }
            Error::Certificate(CertificateError::NotTrusted { detail }) => {
                write!(f, "the certificate does not chain to a trusted root ({detail})")
            }
            Error::Certificate(CertificateError::Invalid { detail }) => {
                write!(f, "the certificate is not valid: {detail}")
            }
            Error::Smtp(SmtpError::Refused { during, code, text }) => {
                write!(f, "the server refused the {during} with {code} {}", shown(text))
            }
            Error::Smtp(SmtpError::StartTlsRefused { code, text }) => {
                write!(f, "the server offered STARTTLS but answered it with {code} {}", shown(text))
            }
            Error::Smtp(SmtpError::StartTlsNotSupported) => f.write_str("the server does not offer STARTTLS"),
            Error::Smtp(SmtpError::Closed { during }) => write!(f, "the server closed the connection during the {during}"),
            Error::Smtp(SmtpError::Protocol { detail }) => write!(f, "the server does not speak SMTP: {detail}"),
            Error::Smtp(SmtpError::DataBeforeTls { bytes }) => write!(
                f,
                "the server sent {bytes} bytes after accepting STARTTLS and before TLS began (possible command injection)"
            ),
            Error::Host { message, .. } => f.write_str(message),
            Error::Connect(ConnectError::MxLookup { domain, detail }) => write!(
                f,
                "the MX records of {domain} could not be looked up ({detail}); this is not the same as no MX"
            ),
            Error::Connect(ConnectError::AddressNotFound { host, detail }) => {
                write!(f, "no address for {host}: {detail}")
            }
            Error::Connect(ConnectError::AddressLookup { host, detail }) => write!(
                f,
                "the address of {host} could not be looked up ({detail})"
            ),
            Error::Connect(ConnectError::Refused { address, detail }) => {
                write!(f, "tcp connect to {address} failed: {detail}")
            }
            Error::Connect(ConnectError::Timeout { during, ms }) => {
                write!(f, "no answer within {ms} ms while waiting for {during}")
            }
            Error::Connect(ConnectError::TlsHandshake { detail }) => {
                write!(f, "TLS handshake failed: {}", shown(detail))
            }
            Error::Connect(ConnectError::AddressRefused {
                host,
                address,
                kind,
                rfc,
            }) => write!(
                f,
                "{host} has the address {address}, in a {kind} range ({rfc}): not dialled for delivery on the internet"
            ),
            Error::Connect(ConnectError::AddressInvalid { host, address }) => write!(
                f,
                "the DNS gave {} for {host}, which is no numeric IP address",
                shown(address)
            ),
            Error::Delivery(DeliveryError::NullMx) => {
                f.write_str("the domain publishes a null MX: it accepts no mail")
            }
            Error::Delivery(DeliveryError::NoMatchingMx { hosts }) => write!(
                f,
                "the policy is in enforce mode and no MX host matches it (MX: {})",
                hosts.join(", ")
            ),
            Error::Delivery(DeliveryError::AllFailed { attempts, .. }) => {
                write!(f, "no MX host could be used ({attempts} attempts)")
            }
            Error::Delivery(DeliveryError::DomainNotFound { domain }) => {
                write!(f, "the domain {domain} does not exist (NXDOMAIN)")
            }
            Error::Delivery(DeliveryError::NoUsableMx { domain, found }) => write!(
                f,
                "none of the {found} MX records of {domain} names a usable host"
            ),
            Error::Delivery(DeliveryError::AddressLiteral { literal }) => write!(
                f,
                "the recipient domain is an address literal {}: MTA-STS applies to domain names, and the relay does not route literals",
                shown(literal)
            ),
            Error::Delivery(DeliveryError::NoDomain { address }) => write!(
                f,
                "the recipient {} has no domain part to route to",
                shown(address)
            ),
            Error::Delivery(DeliveryError::OtherDomain { address, domain }) => write!(
                f,
                "the recipient {} is not in {domain}: this connection goes to {domain}'s MX under {domain}'s policy; send other domains' recipients over a connection of their own",
                shown(address)
            ),
            Error::Delivery(DeliveryError::DeadlineExceeded { ms, attempts }) => write!(
                f,
                "no MX host could be used within {} s ({attempts} attempts)",
                ms / 1000
            ),
            Error::Smtp(SmtpError::BadHeloName { name }) => {
                write!(f, "the EHLO name {} must be a domain without spaces or control characters", shown(name))
            }
            Error::Smtp(SmtpError::OutOfStep { detail }) => {
                write!(f, "the server's replies are out of step with the commands: {detail}")
            }
            Error::Smtp(SmtpError::UnexpectedReply { command, code, text }) => {
                write!(f, "the server answered {command} with {code} {}", shown(text))?;
                if *command == "DATA" && *code != 354 && *code < 400 {
                    f.write_str(" instead of 354: the message was not sent")?;
                }
                Ok(())
            }
            Error::Smtp(SmtpError::BadCommand { detail }) => f.write_str(detail),
            Error::Report(e) => e.fmt(f),
            Error::Socketmap(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// Serialised as `{ code, message, tlsrpt, rfc, problem?, line?, column? }`, the shape of
/// `MtaStsError` in JS.
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("code", self.code_str())?;
        map.serialize_entry("message", &self.to_string())?;
        map.serialize_entry("tlsrpt", self.tlsrpt_result())?;
        map.serialize_entry("temporary", &self.is_temporary())?;
        map.serialize_entry("rfc", self.rfc())?;
        if let Some(d) = self.diagnostic() {
            map.serialize_entry("problem", d.code)?;
            if d.line > 0 {
                map.serialize_entry("line", &d.line)?;
            }
            if d.column > 0 {
                map.serialize_entry("column", &d.column)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Problem;
    use crate::policy::PolicyProblem;
    use crate::record::RecordProblem;

    fn is_kebab(code: &str) -> bool {
        !code.is_empty()
            && code.split('-').all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    }

    #[test]
    fn codes_are_stable_kebab_case_and_unique() {
        use PolicyProblem::*;
        let policy = [
            Encoding,
            Empty,
            BareCr,
            Line,
            Key,
            VersionMissing,
            VersionInvalid,
            ModeMissing,
            ModeInvalid,
            ModeReport,
            MaxAgeMissing,
            MaxAgeInvalid,
            MaxAgeTooLarge,
            MxMissing,
            MxInvalid,
            ExtensionValue,
            DraftJson,
            DuplicateKey,
            DuplicateMx,
            UnknownKey,
            MaxAgeShort,
            TrailingWhitespace,
            BlankLine,
            MxAddress,
        ];
        use RecordProblem as R;
        let record = [
            R::Version,
            R::Separator,
            R::Field,
            R::IdMissing,
            R::IdInvalid,
            R::IdDuplicate,
            R::ExtensionValue,
            R::ExtensionDuplicate,
            R::DraftName,
            R::Name,
        ];
        let d = Diagnostic::new(PolicyProblem::Empty, String::new(), 1, 1);
        let errors = [
            Error::from(RecordError::Multiple { count: 2 }),
            RecordError::Invalid(d.clone()).into(),
            PolicyError::Invalid(d).into(),
            MxError::HostInvalid {
                host: String::new(),
                reason: "",
            }
            .into(),
            MxError::PatternInvalid {
                pattern: String::new(),
                reason: String::new(),
            }
            .into(),
        ];
        let mut codes: Vec<&str> = policy.iter().map(|p| p.code()).collect();
        codes.extend(record.iter().map(|p| p.code()));
        codes.extend(errors.iter().map(Error::code));
        for c in &codes {
            assert!(is_kebab(c), "{c}");
        }
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len(), "codes are unique");
        // Pinned: these codes are public interface (DESIGN.md, issue 2).
        assert_eq!(
            errors.iter().map(Error::code).collect::<Vec<_>>(),
            [
                "record-multiple",
                "record-invalid",
                "policy-invalid",
                "mx-host-invalid",
                "mx-pattern-invalid"
            ]
        );
        for e in &errors {
            assert!(["sts-policy-invalid", "validation-failure"].contains(&e.tlsrpt_result()));
        }
    }

    /// socketmap_table(5): a lost framing ends the connection; a request that is framed but not
    /// `name key`, or a reply too long to send, is answered PERM and the connection goes on.
    #[test]
    fn only_a_framing_error_closes_a_socketmap_connection() {
        let closes = [
            SocketmapError::NetstringLength { found: "x".into() },
            SocketmapError::NetstringLengthDigits {
                digits: 11,
                limit: 10,
            },
            SocketmapError::RequestTooLarge {
                length: 1 << 20,
                limit: 10_000,
            },
            SocketmapError::NetstringComma { found: b';' },
            SocketmapError::NetstringTruncated { buffered: 3 },
        ];
        for e in closes {
            assert!(e.closes_connection(), "{e:?}");
        }
        let goes_on = [
            SocketmapError::Request {
                detail: "no space".into(),
            },
            SocketmapError::ReplyTooLarge {
                size: 100_001,
                limit: 100_000,
            },
        ];
        for e in goes_on {
            assert!(!e.closes_connection(), "{e:?}");
        }
    }

    fn refused(code: u16) -> SmtpError {
        SmtpError::Refused {
            during: "EHLO",
            code,
            text: "no".into(),
        }
    }

    /// RFC 5321 §4.2.1: 4yz is transient, 5yz permanent; the boundary is 500 itself.
    #[test]
    fn a_session_refusal_is_final_from_500() {
        assert!(refused(421).is_temporary());
        assert!(refused(499).is_temporary());
        assert!(!refused(500).is_temporary());
        assert!(!refused(554).is_temporary());
        assert!(Error::from(refused(450)).is_temporary());
        assert!(!Error::from(refused(550)).is_temporary());
    }

    /// A missing or undiallable MX address stays so until the DNS changes; the rest may pass.
    /// The host's own word (`ECONNREFUSED`, `ENOTFOUND`) rides along where the host gave one.
    #[test]
    fn connect_failures_are_temporary_but_for_addresses_that_cannot_be_dialled() {
        let s = |x: &str| x.to_string();
        let cases = [
            (
                ConnectError::MxLookup {
                    domain: s("example.com"),
                    detail: s("ETIMEOUT"),
                },
                true,
                Some("ETIMEOUT"),
            ),
            (
                ConnectError::AddressNotFound {
                    host: s("mx.example.com"),
                    detail: s("ENOTFOUND"),
                },
                false,
                Some("ENOTFOUND"),
            ),
            (
                ConnectError::AddressLookup {
                    host: s("mx.example.com"),
                    detail: s("ESERVFAIL"),
                },
                true,
                Some("ESERVFAIL"),
            ),
            (
                ConnectError::Refused {
                    address: s("127.0.0.1"),
                    detail: s("ECONNREFUSED"),
                },
                true,
                Some("ECONNREFUSED"),
            ),
            (
                ConnectError::Timeout {
                    during: s("connect"),
                    ms: 30_000,
                },
                true,
                None,
            ),
            (
                ConnectError::TlsHandshake {
                    detail: s("alert 40"),
                },
                true,
                Some("alert 40"),
            ),
            (
                ConnectError::AddressRefused {
                    host: s("mx.example.com"),
                    address: s("10.0.0.1"),
                    kind: "private",
                    rfc: "RFC 1918",
                },
                false,
                None,
            ),
            (
                ConnectError::AddressInvalid {
                    host: s("mx.example.com"),
                    address: s("localhost"),
                },
                false,
                None,
            ),
        ];
        for (e, temporary, detail) in cases {
            assert_eq!(e.is_temporary(), temporary, "{e:?}");
            assert_eq!(e.detail(), detail, "{e:?}");
            assert_eq!(Error::from(e.clone()).is_temporary(), temporary, "{e:?}");
        }
    }

    fn host(code: &str, temporary: bool) -> Error {
        Error::Host {
            code: code.into(),
            message: "the host's message".into(),
            temporary,
            tlsrpt: "validation-failure".into(),
        }
    }

    /// A failure the host classified keeps the host's code and temporariness; a host code of RFC
    /// 8460's certificate family cites the rule it breaks (RFC 8461 §4.2), others cite nothing.
    #[test]
    fn host_failures_keep_their_own_code_and_temporariness() {
        let e = host("ECONNRESET", true);
        assert_eq!(e.code(), "host-failure");
        assert_eq!(e.code_str(), "ECONNRESET");
        assert!(e.is_temporary());
        assert!(!host("ECONNRESET", false).is_temporary());
        assert_eq!(e.rfc(), "");
        assert_eq!(e.to_string(), "the host's message");
        assert_eq!(host("certificate-expired", true).rfc(), "RFC 8461 §4.2");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "ECONNRESET");
        assert_eq!(json["temporary"], true);
    }

    /// §3.2 requires text/plain; the other fetch failures are §3.3's.
    #[test]
    fn a_wrong_media_type_cites_section_3_2() {
        let e = Error::from(FetchError::ContentType {
            found: Some("text/html".into()),
        });
        assert_eq!(e.rfc(), "RFC 8461 §3.2");
        assert_eq!(e.tlsrpt_result(), "sts-policy-invalid");
    }

    /// A record diagnostic has no line (line 0): its message and JSON give the column only; a
    /// policy diagnostic gives both. A column 0 (no place) is left out of the JSON too.
    #[test]
    fn line_and_column_are_shown_only_when_known() {
        let record = Error::from(RecordError::Invalid(Diagnostic::new(
            RecordProblem::IdInvalid,
            "bad id".into(),
            0,
            13,
        )));
        assert_eq!(record.to_string(), "column 13: bad id");
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json.get("line"), None);
        assert_eq!(json["column"], 13);

        let policy = Error::from(PolicyError::Invalid(Diagnostic::new(
            PolicyProblem::ModeInvalid,
            "bad mode".into(),
            2,
            7,
        )));
        assert_eq!(policy.to_string(), "line 2, column 7: bad mode");
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!((&json["line"], &json["column"]), (&2.into(), &7.into()));
        assert_eq!(json["problem"], "policy-mode-invalid");

        let nowhere = Error::from(PolicyError::Invalid(Diagnostic::new(
            PolicyProblem::Empty,
            "empty".into(),
            1,
            0,
        )));
        let json = serde_json::to_value(&nowhere).unwrap();
        assert_eq!(json["line"], 1);
        assert_eq!(json.get("column"), None);
    }

    /// RFC 5321 §4.3.2: DATA is answered 354 before the message; a success code instead means
    /// nothing was sent, which the message says. An error reply, 354 itself, or a success code
    /// to another command gets no such remark.
    #[test]
    fn an_unexpected_success_to_data_says_the_message_was_not_sent() {
        let said = |command: &'static str, code: u16| {
            Error::from(SmtpError::UnexpectedReply {
                command,
                code,
                text: "ok".into(),
            })
            .to_string()
            .ends_with(" instead of 354: the message was not sent")
        };
        assert!(said("DATA", 250));
        assert!(said("DATA", 399));
        assert!(!said("DATA", 354));
        assert!(!said("DATA", 400));
        assert!(!said("DATA", 554));
        assert!(!said("RCPT", 250));
        assert!(!said("MAIL", 354));
    }
}
