//! Kinds of problem with a policy file, each with its stable code and rule.

use crate::diagnostic::{Problem, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyProblem {
    /// The bytes are not UTF-8 (§3.2: the policy is UTF-8 text).
    Encoding,
    Empty,
    /// A CR not followed by LF (§3.2: `sts-policy-term = LF / CRLF`).
    BareCr,
    /// A line that is not `key: value`.
    Line,
    Key,
    VersionMissing,
    VersionInvalid,
    ModeMissing,
    ModeInvalid,
    /// `mode: report`, the drafts' name for `testing`.
    ModeReport,
    MaxAgeMissing,
    MaxAgeInvalid,
    MaxAgeTooLarge,
    MxMissing,
    MxInvalid,
    ExtensionValue,
    /// A JSON body: the policy format of drafts before RFC 8461.
    DraftJson,
    // Warnings: legal, but unwise.
    DuplicateKey,
    DuplicateMx,
    UnknownKey,
    MaxAgeShort,
    TrailingWhitespace,
    BlankLine,
    /// An `mx` value that is an IP address: legal as a domain (all-numeric labels), but MX
    /// records name hosts, so it matches no MX host (RFC 8461 §4.1; RFC 5321 §5.1).
    MxAddress,
}

impl Problem for PolicyProblem {
    fn code(self) -> &'static str {
        use PolicyProblem::*;
        match self {
            Encoding => "policy-encoding",
            Empty => "policy-empty",
            BareCr => "policy-bare-cr",
            Line => "policy-line-invalid",
            Key => "policy-key-invalid",
            VersionMissing => "policy-version-missing",
            VersionInvalid => "policy-version-invalid",
            ModeMissing => "policy-mode-missing",
            ModeInvalid => "policy-mode-invalid",
            ModeReport => "policy-mode-report",
            MaxAgeMissing => "policy-max-age-missing",
            MaxAgeInvalid => "policy-max-age-invalid",
            MaxAgeTooLarge => "policy-max-age-too-large",
            MxMissing => "policy-mx-missing",
            MxInvalid => "policy-mx-invalid",
            ExtensionValue => "policy-extension-invalid",
            DraftJson => "policy-draft-json",
            DuplicateKey => "policy-duplicate-key",
            DuplicateMx => "policy-duplicate-mx",
            UnknownKey => "policy-unknown-key",
            MaxAgeShort => "policy-max-age-short",
            TrailingWhitespace => "policy-trailing-whitespace",
            BlankLine => "policy-blank-line",
            MxAddress => "policy-mx-address",
        }
    }

    fn severity(self) -> Severity {
        use PolicyProblem::*;
        match self {
            DuplicateKey | DuplicateMx | UnknownKey | MaxAgeShort | TrailingWhitespace
            | BlankLine | MxAddress => Severity::Warning,
            _ => Severity::Error,
        }
    }

    fn rfc(self) -> &'static str {
        match self {
            PolicyProblem::MxInvalid | PolicyProblem::DuplicateMx | PolicyProblem::MxAddress => {
                "RFC 8461 §3.2, §4.1"
            }
            _ => "RFC 8461 §3.2",
        }
    }
}
