//! # mtasts — SMTP MTA Strict Transport Security (RFC 8461), sans-IO
//!
//! mtasts never opens a socket, resolves a name or reads the clock; the host does, and tells the
//! core. This crate holds the rules: it parses and checks the `_mta-sts` TXT record (RFC 8461 §3.1)
//! and the policy file (§3.2), matches MX host names against a policy (§4.1), and explains, for
//! people, everything that is wrong with a record or policy (lint mode). It runs policy
//! discovery and caching as a state machine (§3.3, §5.1, §10.2): the host resolves and fetches
//! when asked, and stores what the core tells it to.
//!
//! The same code runs natively (`cargo test`) and in WebAssembly behind thin bindings
//! (`src/wasm.rs`), so a record or policy gets one verdict everywhere.
//!
//! Errors are small `#[non_exhaustive]` enums per concern ([`RecordError`], [`PolicyError`],
//! [`MxError`]) wrapped by [`Error`]; every variant has a stable kebab-case `code()` and maps to
//! one TLS-RPT result type (RFC 8460 §4.3). No input makes this crate panic, and every parser
//! runs in time linear in its input.

// Without the verifier (the checker page's first module) some helpers of the rest go unused.
#![cfg_attr(not(feature = "verify"), allow(dead_code))]

pub mod cache;
#[cfg(feature = "verify")]
pub mod cert;
pub mod codes;
#[cfg(feature = "verify")]
pub mod delivery;
pub mod diagnostic;
pub mod discovery;
pub mod domain;
pub mod error;
pub mod fetch;
pub mod idna;
pub mod mx;
pub mod policy;
pub mod record;
pub mod relay;
pub mod smtp;
#[cfg(feature = "verify")]
pub mod socketmap;
pub mod tlsrpt;
pub mod txt;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use cache::CacheEntry;
#[cfg(feature = "verify")]
pub use cert::{verify_chain, HostScheme, SignatureHost, TrustAnchors};
pub use diagnostic::{Diagnostic, Severity};
pub use discovery::{Discovery, Outcome, Status, Step, TxtAnswer};
pub use error::{
    CertificateError, DnsError, DomainError, Error, MxError, PolicyError, RecordError,
};
pub use fetch::{FetchAnswer, FetchError, FetchFailure};
pub use mx::{match_mx, MxPattern};
pub use policy::{format_policy, lint_policy, lint_policy_bytes, parse_policy, parse_policy_bytes};
pub use policy::{Lint as PolicyLint, Mode, Policy};
pub use record::{lint_record, parse_record, select_record, Record, RecordLint};
