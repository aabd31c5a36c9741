//! The `_smtp._tls.<domain>` TXT record (RFC 8460 §3).
//!
//! ```text
//! tlsrpt-record     = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//! field-delim       = *WSP ";" *WSP
//! tlsrpt-field      = tlsrpt-rua /        ; Note that the tlsrpt-rua
//!                     tlsrpt-extension    ; record is required.
//! tlsrpt-version    = %s"v=TLSRPTv1"
//! tlsrpt-rua        = %s"rua="
//!                     tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//! tlsrpt-uri        = URI
//!                   ; "URI" is imported from [RFC3986];
//!                   ; commas (ASCII 0x2C) and exclamation
//!                   ; points (ASCII 0x21) MUST be encoded
//! tlsrpt-extension  = tlsrpt-ext-name "=" tlsrpt-ext-value
//! tlsrpt-ext-name   = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//! tlsrpt-ext-value  = 1*(%x21-3A / %x3C / %x3E-7E)
//!                   ; chars excluding "=", ";", SP, and control chars
//! ```
//!
//! Selection (§3): the strings of one TXT record are concatenated without separator; records that
//! do not begin with `v=TLSRPTv1;` are discarded (they are not TLS-RPT records at all); if the
//! number left is not one, the sender assumes the domain does not implement TLS-RPT. As in
//! [`crate::record`], the types keep "no TLS-RPT record" (`Ok(None)`) apart from "several" and
//! "an invalid one" (`Err`); in every case but `Ok(Some)` nothing is reported.
//!
//! Only `mailto:` and `https:` URIs are reporting endpoints (§3: "Two URI schemes are supported").

use crate::diagnostic::{column_of, shown, Diagnostic, Diagnostics, Problem, Severity};
use crate::error::{Error, TlsRptRecordError};
use crate::record::{check_ext_name, Extensions};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::collections::HashSet;

/// A valid TLS-RPT TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// Always `TLSRPTv1`.
    pub version: String,
    /// The reporting endpoints (`mailto:` or `https:` URIs) in order, each once; URIs of other
    /// schemes are left out (see [`TlsRptRecordProblem::RuaScheme`]).
    pub rua: Vec<String>,
    /// Extension fields in order of appearance; for a repeated name the first counts.
    pub extensions: Vec<(String, String)>,
}

/// Everything lint mode found in a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsRptRecordLint {
    pub record: Option<TlsRptRecord>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Kinds of problem with a `_smtp._tls` TXT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsRptRecordProblem {
    /// Does not begin with `v=TLSRPTv1;`.
    Version,
    /// An empty field, or whitespace after the last field.
    Separator,
    /// A field that is not `name=value`, or whose name breaks `tlsrpt-ext-name`.
    Field,
    RuaMissing,
    /// A second `rua` field.
    RuaDuplicate,
    /// A `rua` entry that is not a URI, or a `mailto:` / `https:` URI without an address / host.
    RuaInvalid,
    /// A URI of a scheme other than `mailto:` and `https:` (warning: it is ignored).
    RuaScheme,
    /// `rua` names no `mailto:` or `https:` URI at all: there is nowhere to report to.
    RuaUnusable,
    /// The same URI twice in `rua` (warning: one report is sent).
    RuaRepeated,
    ExtensionValue,
    /// A repeated extension name (warning: the first counts).
    ExtensionDuplicate,
    /// A draft-era `ruf=` field (failure reports), which RFC 8460 dropped (warning: ignored).
    DraftRuf,
    /// The record is published at the draft-era name `_smtp-tlsrpt`.
    DraftName,
    /// The record is published at a name other than `_smtp._tls.<domain>`.
    Name,
}

impl Problem for TlsRptRecordProblem {
    fn code(self) -> &'static str {
        use TlsRptRecordProblem as P;
        match self {
            P::Version => "tlsrpt-record-version",
            P::Separator => "tlsrpt-record-separator",
            P::Field => "tlsrpt-record-field-invalid",
            P::RuaMissing => "tlsrpt-record-rua-missing",
            P::RuaDuplicate => "tlsrpt-record-rua-duplicate",
            P::RuaInvalid => "tlsrpt-record-rua-invalid",
            P::RuaScheme => "tlsrpt-record-rua-scheme",
            P::RuaUnusable => "tlsrpt-record-rua-unusable",
            P::RuaRepeated => "tlsrpt-record-rua-repeated",
            P::ExtensionValue => "tlsrpt-record-extension-invalid",
            P::ExtensionDuplicate => "tlsrpt-record-extension-duplicate",
            P::DraftRuf => "tlsrpt-record-draft-ruf",
            P::DraftName => "tlsrpt-record-draft-name",
            P::Name => "tlsrpt-record-name",
        }
    }

    fn severity(self) -> Severity {
        use TlsRptRecordProblem as P;
        match self {
            P::RuaScheme | P::RuaRepeated | P::ExtensionDuplicate | P::DraftRuf => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }

    fn rfc(self) -> &'static str {
        "RFC 8460 §3"
    }
}

/// The prefix that makes a TXT record a TLS-RPT record at all (§3).
pub const TLSRPT_RECORD_PREFIX: &str = "v=TLSRPTv1;";
const VERSION: &str = "v=TLSRPTv1";

fn is_wsp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

struct Scan<'a> {
    text: &'a str,
    diags: Diagnostics,
}

impl Scan<'_> {
    fn report(&mut self, problem: TlsRptRecordProblem, at: usize, message: String) {
        // Past the cap only the count is kept: the column costs a walk over the text, which
        // 100k problems in a 1 MB record would make quadratic.
        if !self.diags.keeps(problem.severity()) {
            self.diags.skip();
            return;
        }
        self.diags.push(Diagnostic::new(
            problem,
            message,
            1,
            column_of(self.text, at),
        ));
    }
}

fn version_hint(text: &str) -> String {
    let lower = text.trim_start().to_ascii_lowercase();
    if text.starts_with(|c: char| c.is_whitespace()) {
        "found leading whitespace".into()
    } else if lower.starts_with("v=tlsrptv1") && !text.starts_with(VERSION) {
        format!(
            "found {} (the version is case-sensitive)",
            shown(&text[..VERSION.len().min(text.len())])
        )
    } else if lower.starts_with("v=tlsrpt") {
        let end = text.find([';', ' ', '\t']).unwrap_or(text.len());
        format!(
            "found version {}; the only version is TLSRPTv1",
            shown(&text[2..end])
        )
    } else if lower.starts_with("v=stsv1") {
        "found an MTA-STS record (RFC 8461), which belongs at _mta-sts.<domain>".into()
    } else if lower.starts_with("v=spf1") {
        "found an SPF record".into()
    } else if lower.starts_with("v=dmarc1") {
        "found a DMARC record".into()
    } else if lower.starts_with("rua=") {
        "found a rua field first (the version comes first)".into()
    } else {
        format!("found {}", shown(text))
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1); the offset of ":".
fn scheme_end(uri: &str) -> Option<usize> {
    let colon = uri.find(':')?;
    let s = &uri.as_bytes()[..colon];
    (s.first()?.is_ascii_alphabetic()
        && s.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))
    .then_some(colon)
}

/// RFC 3986 §2: the characters a URI may hold (unreserved, reserved, "%" of a pct-encoded
/// triplet), less "," and "!", which RFC 8460 §3 says MUST be encoded in a `tlsrpt-uri`.
/// On failure the offset of the first bad character and why.
fn check_uri_chars(uri: &str) -> Result<(), (usize, String)> {
    let b = uri.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return Err((
                        i,
                        "\"%\" must begin a percent-encoded byte such as %2C".into(),
                    ));
                }
                i += 3;
                continue;
            }
            // RFC 8460 §3: "commas (ASCII 0x2C) and exclamation points (ASCII 0x21) MUST be
            // encoded" (a comma never reaches here: it separates URIs).
            b'!' => {
                return Err((i, "\"!\" must be percent-encoded as %21 in a rua URI (a DMARC-style size limit such as \"!10m\" has no meaning in TLS-RPT)".into()));
            }
            c if c.is_ascii_alphanumeric() => {}
            b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@' | b'$'
            | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b'=' => {}
            _ => {
                let ch = uri[i..].chars().next().unwrap_or('?');
                let why = if ch == ' ' || ch == '\t' {
                    "a URI holds no whitespace (separate URIs with \",\"), found a space"
                        .to_string()
                } else {
                    format!("{ch:?} is not allowed in a URI (RFC 3986 §2); percent-encode it")
                };
                return Err((i, why));
            }
        }
        i += 1;
    }
    Ok(())
}

/// `host = 1*( ALPHA / DIGIT / "-" ) *( "." 1*(...) ) [ "." ]` or an address literal `[...]`:
/// the domain of a mailto address or the host of an https URI. `None` when fine.
fn host_problem(host: &str) -> Option<String> {
    if host.is_empty() {
        return Some("found no host".into());
    }
    if host.starts_with('[') {
        return (!host.ends_with(']') || host.len() < 3)
            .then(|| format!("an address literal is \"[...]\", found {}", shown(host)));
    }
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let ok = trimmed.split('.').all(|l| {
        !l.is_empty()
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'%')
    });
    (!ok).then(|| format!("expected a host name, found {}", shown(host)))
}

/// A supported URI, checked for what §3 needs of it; `Err((offset, message))` when invalid.
/// `Ok(true)`: usable (mailto or https); `Ok(false)`: a valid URI of another scheme.
fn check_uri(uri: &str) -> Result<bool, (usize, String)> {
    if uri.is_empty() {
        return Err((
            0,
            "expected a URI, found nothing (two \",\" in a row, or a \",\" at the end)".into(),
        ));
    }
    check_uri_chars(uri)?;
    let Some(colon) = scheme_end(uri) else {
        let hint = if uri.contains('@') {
            format!(" (write mailto:{uri})")
        } else if uri.contains('.') {
            format!(" (write https://{uri} for an HTTPS endpoint)")
        } else {
            String::new()
        };
        return Err((
            0,
            format!(
                "expected a URI with a scheme, mailto: or https:, found {}{hint}",
                shown(uri)
            ),
        ));
    };
    let rest = &uri[colon + 1..];
    // RFC 3986 §3.1: schemes are case-insensitive.
    match uri[..colon].to_ascii_lowercase().as_str() {
        "mailto" => {
            // RFC 6068 §2: mailtoURI = "mailto:" [ to ] [ hfields ]; RFC 8460 §3 mails reports
            // to "the specified email address", so an addr-spec is required.
            let to = rest.split('?').next().unwrap_or("");
            let at = colon + 1;
            let Some(sign) = to.rfind('@') else {
                return Err((
                    at,
                    format!(
                        "a mailto: URI needs an address local@domain, found {}",
                        shown(to)
                    ),
                ));
            };
            if sign == 0 {
                return Err((
                    at,
                    "a mailto: address needs a local part before \"@\"".into(),
                ));
            }
            if let Some(why) = host_problem(&to[sign + 1..]) {
                return Err((
                    at + sign + 1,
                    format!("a mailto: address needs a domain: {why}"),
                ));
            }
            Ok(true)
        }
        "https" => {
            // RFC 3986 §3: hier-part = "//" authority path-abempty; RFC 8460 §3 POSTs reports
            // to the URI, so an authority with a host is required.
            let Some(authority) = rest.strip_prefix("//") else {
                return Err((
                    colon + 1,
                    format!("an https: URI is https://host/path, found {}", shown(uri)),
                ));
            };
            let start = colon + 3;
            let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
            let authority = &authority[..end];
            let host_at = authority.rfind('@').map_or(0, |i| i + 1);
            let host_port = &authority[host_at..];
            let host = match host_port.rfind(':') {
                Some(i) if !host_port[i..].contains(']') => {
                    let port = &host_port[i + 1..];
                    if !port.bytes().all(|c| c.is_ascii_digit()) {
                        return Err((
                            start + host_at + i + 1,
                            format!("a port is digits, found {}", shown(port)),
                        ));
                    }
                    &host_port[..i]
                }
                _ => host_port,
            };
            if let Some(why) = host_problem(host) {
                return Err((
                    start + host_at,
                    format!("an https: URI needs a host: {why}"),
                ));
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn scan(text: &str) -> (Option<TlsRptRecord>, Diagnostics) {
    use TlsRptRecordProblem as P;
    let mut s = Scan {
        text,
        diags: Diagnostics::default(),
    };
    // RFC 8460 §3: tlsrpt-version = %s"v=TLSRPTv1" (case-sensitive).
    if !text.starts_with(VERSION)
        || text[VERSION.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        let hint = version_hint(text);
        s.report(
            P::Version,
            0,
            format!("expected the record to begin with \"v=TLSRPTv1;\", {hint}"),
        );
        return (None, s.diags);
    }
    let b = text.as_bytes();
    let mut pos = VERSION.len();
    // Spec: field-delim allows whitespace before the first ";", but §3 discards records that do
    // not begin with "v=TLSRPTv1;", so such a record is never used: it is diagnosed here, as
    // selection would ignore it.
    if b.get(pos) != Some(&b';') {
        let message = if pos == b.len() {
            "expected \";\" and a rua field after \"v=TLSRPTv1\", found the end of the record"
                .to_string()
        } else {
            format!(
                "expected \";\" right after \"v=TLSRPTv1\" (records not beginning with \"v=TLSRPTv1;\" are discarded), found {}",
                shown(&text[pos..])
            )
        };
        s.report(P::Version, pos, message);
        return (None, s.diags);
    }
    let mut rua: Option<Vec<String>> = None;
    let mut rua_invalid = false;
    let mut rua_like_name: Option<String> = None;
    let mut ruf = false;
    let mut extensions: Vec<(String, String)> = Vec::new();
    // The extension names kept, for the repeat check.
    let mut names: HashSet<&str> = HashSet::new();
    // Invariant: `pos` is at a ";" that ends the previous field.
    while pos < b.len() {
        pos += 1; // the ";"
        while pos < b.len() && is_wsp(b[pos]) {
            pos += 1;
        }
        if pos == b.len() {
            break; // [field-delim] at the end
        }
        let end = text[pos..].find(';').map_or(b.len(), |i| pos + i);
        let mut field_end = end;
        while field_end > pos && is_wsp(b[field_end - 1]) {
            field_end -= 1;
        }
        if field_end < end && end == b.len() {
            s.report(P::Separator, field_end, "whitespace after the last field is not allowed (end the record with the value or with \";\")".into());
        }
        let field = &text[pos..field_end];
        if field.is_empty() {
            s.report(P::Separator, pos, "empty field: two \";\" in a row".into());
            pos = end;
            continue;
        }
        let Some(eq) = field.find('=') else {
            s.report(
                P::Field,
                pos,
                format!("expected a field \"name=value\", found {}", shown(field)),
            );
            pos = end;
            continue;
        };
        let (name, value) = (&field[..eq], &field[eq + 1..]);
        let at = pos + eq + 1;
        if let Err((off, why)) = check_ext_name(name) {
            s.report(P::Field, pos + off, why);
        } else if name == "rua" {
            // RFC 8460 §3: tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
            if rua.is_some() || rua_invalid {
                // Spec: the grammar allows tlsrpt-rua twice; §3 speaks of one rua field whose
                // list is comma-separated, so a second field is an error, not a merge.
                s.report(
                    P::RuaDuplicate,
                    pos,
                    "rua appears more than once (list several URIs in one rua field, separated by \",\")".into(),
                );
            } else {
                match scan_rua(&mut s, value, at) {
                    Some(list) => rua = Some(list),
                    None => rua_invalid = true,
                }
            }
        } else {
            if name.eq_ignore_ascii_case("rua") {
                rua_like_name = Some(name.to_string());
            }
            if value.is_empty() {
                s.report(
                    P::ExtensionValue,
                    at,
                    format!("extension {name} needs a value"),
                );
            } else if let Some(bad) = value
                .bytes()
                // RFC 8460 §3: tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
                .position(|c| !matches!(c, 0x21..=0x3a | 0x3c | 0x3e..=0x7e))
            {
                let c = value[bad..].chars().next().unwrap_or('?');
                s.report(P::ExtensionValue, at + bad, format!("extension values exclude \"=\", \";\", spaces and control characters, found {c:?}"));
            } else if !names.insert(name) {
                // Found by fuzz/linear-time.sh: a scan of the extensions before made a record of
                // many distinct extensions quadratic.
                s.report(
                    P::ExtensionDuplicate,
                    pos,
                    format!("extension {name} appears more than once; the first counts"),
                );
            } else {
                if name == "ruf" {
                    ruf = true;
                    s.report(P::DraftRuf, pos, "ruf (failure reports) is from the drafts of RFC 8460 and is ignored by senders; reports go to rua only".into());
                }
                extensions.push((name.to_string(), value.to_string()));
            }
        }
        pos = end;
    }
    if rua.is_none() && !rua_invalid {
        let hint = match (rua_like_name, ruf) {
            (Some(n), _) => format!(" (field names are case-sensitive: found {})", shown(&n)),
            (None, true) => {
                " (found ruf, the drafts' failure-report field: publish the address as rua)".into()
            }
            (None, false) => String::new(),
        };
        s.report(
            P::RuaMissing,
            text.len(),
            format!("the rua field is required{hint}"),
        );
    }
    let record = match (rua, s.diags.has_error()) {
        (Some(rua), false) => Some(TlsRptRecord {
            version: "TLSRPTv1".into(),
            rua,
            extensions,
        }),
        _ => None,
    };
    (record, s.diags)
}

/// The URIs of one `rua` value starting at byte `at`; `None` when it is invalid.
fn scan_rua(s: &mut Scan<'_>, value: &str, at: usize) -> Option<Vec<String>> {
    use TlsRptRecordProblem as P;
    let mut usable = Vec::new();
    let mut seen = HashSet::new();
    let mut ok = true;
    let mut others = 0usize;
    let mut start = 0;
    for part in value.split(',') {
        let part_at = at + start;
        start += part.len() + 1;
        // RFC 8460 §3: *WSP "," *WSP between URIs.
        let lead = part.len() - part.trim_start_matches([' ', '\t']).len();
        let uri = part.trim_matches([' ', '\t']);
        if part_at == at && lead > 0 {
            // RFC 8460 §3: %s"rua=" tlsrpt-uri: no whitespace between "=" and the first URI.
            ok = false;
            s.report(
                P::RuaInvalid,
                at,
                "expected the first URI right after \"rua=\", found whitespace".into(),
            );
            continue;
        }
        match check_uri(uri) {
            Err((off, why)) => {
                ok = false;
                s.report(P::RuaInvalid, part_at + lead + off, why);
            }
            Ok(_) if !seen.insert(uri) => {
                s.report(
                    P::RuaRepeated,
                    part_at + lead,
                    format!("{} appears twice in rua", shown(uri)),
                );
            }
            // RFC 3986 §3.1, §6.2.2.1: the scheme is case-insensitive and its normal form is
            // lower case: `MAILTO:` is handed out as `mailto:`, so a sender that dispatches on
            // the scheme (mailto: or https:) never drops an endpoint for its case.
            Ok(true) => {
                let colon = uri.find(':').unwrap_or(0);
                usable.push(format!(
                    "{}{}",
                    uri[..colon].to_ascii_lowercase(),
                    &uri[colon..]
                ));
            }
            Ok(false) => {
                // Spec: §3 supports two schemes; a valid URI of another scheme is ignored (left
                // out of `rua`) rather than making the whole record invalid, as §3 has parsers
                // accept supersets of the specification.
                others += 1;
                let scheme = &uri[..uri.find(':').unwrap_or(0)];
                let why = if scheme.eq_ignore_ascii_case("http") {
                    "http: is not supported: reports are POSTed over https: only".to_string()
                } else {
                    format!(
                        "the scheme {} is not supported (only mailto: and https:)",
                        shown(scheme)
                    )
                };
                s.report(
                    P::RuaScheme,
                    part_at + lead,
                    format!("{why}; {} is ignored", shown(uri)),
                );
            }
        }
    }
    if ok && usable.is_empty() && others > 0 {
        s.report(
            P::RuaUnusable,
            at,
            "rua names no mailto: or https: URI, so there is nowhere to send reports".into(),
        );
        return None;
    }
    ok.then_some(usable)
}

/// Parses one TXT record (its strings already concatenated) under the RFC 8460 §3 grammar.
pub fn parse_tlsrpt_record(text: &str) -> Result<TlsRptRecord, Error> {
    let (record, diags) = scan(text);
    match (record, diags.first_error) {
        (Some(r), None) => Ok(r),
        (_, Some(d)) => Err(TlsRptRecordError::Invalid(d).into()),
        // scan() returns no record only together with an error; kept total instead of panicking.
        (None, None) => Err(TlsRptRecordError::Invalid(Diagnostic::new(
            TlsRptRecordProblem::Field,
            "invalid record".into(),
            1,
            1,
        ))
        .into()),
    }
}

/// Applies §3 selection to the TXT records at `_smtp._tls.<domain>`, each given as its strings.
/// `Ok(None)`: no TLS-RPT record. `Err(tlsrpt-record-multiple)`: more than one.
/// `Err(tlsrpt-record-invalid)`: the one record is invalid. In every case but `Ok(Some)` the
/// sender assumes the domain does not implement TLS-RPT and sends no report.
pub fn select_tlsrpt_record<R, S>(records: &[R]) -> Result<Option<TlsRptRecord>, Error>
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    // RFC 8460 §3: the strings of one record are concatenated without separator (as RFC 8461
    // §3.1); "records that do not begin with "v=TLSRPTv1;" are discarded"; "If the number of
    // resulting records is not one, senders MUST assume the recipient domain does not implement
    // TLSRPT."
    match crate::txt::select_one(records, TLSRPT_RECORD_PREFIX) {
        crate::txt::Selected::None => Ok(None),
        crate::txt::Selected::Many(count) => Err(TlsRptRecordError::Multiple { count }.into()),
        crate::txt::Selected::One(text) => parse_tlsrpt_record(&text).map(Some),
    }
}

/// Lint mode: every problem in a record, and in the name it was published at when given.
pub fn lint_tlsrpt_record(text: &str, name: Option<&str>) -> TlsRptRecordLint {
    let (record, mut diags) = scan(text);
    if let Some(name) = name {
        let lower = name.to_ascii_lowercase();
        // RFC 8460 §3: the record is published at "_smtp._tls.<domain>".
        if lower.starts_with("_smtp-tlsrpt.") {
            diags.push(Diagnostic::new(
                TlsRptRecordProblem::DraftName,
                format!("the record is at {}, the name used by drafts of RFC 8460; RFC 8460 §3 puts it at \"_smtp._tls.\" followed by the domain", shown(name)),
                0,
                0,
            ));
        } else if !lower.starts_with("_smtp._tls.") || lower.len() == "_smtp._tls.".len() {
            let hint = if lower.starts_with("_mta-sts.") {
                " (that is the MTA-STS record's name)"
            } else {
                ""
            };
            diags.push(Diagnostic::new(
                TlsRptRecordProblem::Name,
                format!(
                    "TLS-RPT records live at \"_smtp._tls.<domain>\", found {}{hint}",
                    shown(name)
                ),
                0,
                0,
            ));
        }
    }
    let record = if diags.has_error() { None } else { record };
    TlsRptRecordLint {
        record,
        diagnostics: diags.finish(),
    }
}

/// Serialised as `{ version: "TLSRPTv1", rua: [...], extensions: { name: value } }`.
impl Serialize for TlsRptRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TlsRptRecord", 3)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("rua", &self.rua)?;
        st.serialize_field("extensions", &Extensions(&self.extensions))?;
        st.end()
    }
}

impl Serialize for TlsRptRecordLint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TlsRptRecordLint", 2)?;
        st.serialize_field("record", &self.record)?;
        st.serialize_field("diagnostics", &self.diagnostics)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, rua, extensions, reason)
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const GOOD: &[(&str, &[&str], &[(&str, &str)], &str)] = &[
        ("v=TLSRPTv1; rua=mailto:tlsrpt@example.com", &["mailto:tlsrpt@example.com"], &[], "RFC 8460 §3 example"),
        ("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", &["https://reporting.example.com/v1/tlsrpt"], &[], "RFC 8460 §3 https example"),
        ("v=TLSRPTv1;rua=mailto:a@example.com;", &["mailto:a@example.com"], &[], "no WSP, trailing field-delim"),
        ("v=TLSRPTv1;\trua=mailto:a@example.com\t;\t", &["mailto:a@example.com"], &[], "WSP includes HTAB"),
        ("v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.net/x", &["mailto:a@example.com", "https://r.example.net/x"], &[], "*WSP around the comma"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; x-extra=1", &["mailto:a@example.com"], &[("x-extra", "1")], "extensions are kept"),
        ("v=TLSRPTv1; ext=a; rua=mailto:a@example.com", &["mailto:a@example.com"], &[("ext", "a")], "rua need not come first"),
        ("v=TLSRPTv1; rua=MAILTO:a@example.com", &["mailto:a@example.com"], &[], "URI schemes are case-insensitive (RFC 3986 §3.1), handed out lower-cased (§6.2.2.1)"),
        ("v=TLSRPTv1; rua=mailto:a%2Cb@example.com", &["mailto:a%2Cb@example.com"], &[], "an encoded comma"),
        ("v=TLSRPTv1; rua=https://[2001:db8::1]:8443/r", &["https://[2001:db8::1]:8443/r"], &[], "an address literal and a port"),
        ("v=TLSRPTv1; rua=mailto:a@example.com?subject=tlsrpt", &["mailto:a@example.com?subject=tlsrpt"], &[], "mailto hfields"),
        ("v=TLSRPTv1; rua=mailto:a@example.com,ftp://x.example/", &["mailto:a@example.com"], &[], "another scheme is ignored (warning)"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; ruf=mailto:f@example.com", &["mailto:a@example.com"], &[("ruf", "mailto:f@example.com")], "draft ruf: an extension (warning)"),
    ];

    /// (input, problem, column, reason)
    #[rustfmt::skip]
    const BAD: &[(&str, &str, u32, &str)] = &[
        ("", "tlsrpt-record-version", 1, "empty"),
        ("v=tlsrptv1; rua=mailto:a@example.com", "tlsrpt-record-version", 1, "the version is case-sensitive"),
        ("v=TLSRPTv2; rua=mailto:a@example.com", "tlsrpt-record-version", 1, "another version"),
        ("v=TLSRPTv10; rua=mailto:a@example.com", "tlsrpt-record-version", 1, "a longer version token"),
        ("v=STSv1; id=1", "tlsrpt-record-version", 1, "an MTA-STS record"),
        (" v=TLSRPTv1; rua=mailto:a@example.com", "tlsrpt-record-version", 1, "leading whitespace"),
        ("v=TLSRPTv1", "tlsrpt-record-version", 11, "version only"),
        ("v=TLSRPTv1 ; rua=mailto:a@example.com", "tlsrpt-record-version", 11, "§3 discards records not beginning v=TLSRPTv1;"),
        ("v=TLSRPTv1;", "tlsrpt-record-rua-missing", 12, "1*(field-delim tlsrpt-field)"),
        ("v=TLSRPTv1; RUA=mailto:a@example.com", "tlsrpt-record-rua-missing", 37, "%s\"rua=\" is case-sensitive"),
        ("v=TLSRPTv1; ruf=mailto:a@example.com", "tlsrpt-record-rua-missing", 37, "draft ruf only"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", "tlsrpt-record-rua-duplicate", 39, "two rua fields"),
        ("v=TLSRPTv1; rua=", "tlsrpt-record-rua-invalid", 17, "rua needs a URI"),
        ("v=TLSRPTv1; rua=mailto:a@example.com,", "tlsrpt-record-rua-invalid", 38, "a trailing comma"),
        ("v=TLSRPTv1; rua= mailto:a@example.com", "tlsrpt-record-rua-invalid", 17, "no WSP after \"rua=\""),
        ("v=TLSRPTv1; rua=a@example.com", "tlsrpt-record-rua-invalid", 17, "no scheme"),
        ("v=TLSRPTv1; rua=mailto:example.com", "tlsrpt-record-rua-invalid", 24, "mailto without @"),
        ("v=TLSRPTv1; rua=mailto:@example.com", "tlsrpt-record-rua-invalid", 24, "no local part"),
        ("v=TLSRPTv1; rua=mailto:a@", "tlsrpt-record-rua-invalid", 26, "no domain"),
        ("v=TLSRPTv1; rua=https:/r.example.com", "tlsrpt-record-rua-invalid", 23, "https without //"),
        ("v=TLSRPTv1; rua=https:///r", "tlsrpt-record-rua-invalid", 25, "https without a host"),
        ("v=TLSRPTv1; rua=https://r.example.com:x/", "tlsrpt-record-rua-invalid", 39, "a port that is not digits"),
        ("v=TLSRPTv1; rua=mailto:a@example.com!10m", "tlsrpt-record-rua-invalid", 37, "\"!\" MUST be encoded"),
        ("v=TLSRPTv1; rua=mailto:a@exa mple.com", "tlsrpt-record-rua-invalid", 29, "a space inside a URI"),
        ("v=TLSRPTv1; rua=mailto:a%zz@example.com", "tlsrpt-record-rua-invalid", 25, "a broken percent-encoding"),
        ("v=TLSRPTv1; rua=mailto:é@example.com", "tlsrpt-record-rua-invalid", 24, "non-ASCII is not URI"),
        ("v=TLSRPTv1; rua=http://r.example.com/", "tlsrpt-record-rua-unusable", 17, "http only: nowhere to report"),
        ("v=TLSRPTv1;; rua=mailto:a@example.com", "tlsrpt-record-separator", 12, "empty field"),
        ("v=TLSRPTv1; rua=mailto:a@example.com ", "tlsrpt-record-separator", 37, "whitespace after the last field"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; junk", "tlsrpt-record-field-invalid", 39, "not name=value"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; _x=1", "tlsrpt-record-field-invalid", 39, "ext-name begins with ALPHA / DIGIT"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; x=", "tlsrpt-record-extension-invalid", 41, "ext-value is 1*"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; x=a=b", "tlsrpt-record-extension-invalid", 42, "ext-value excludes \"=\""),
    ];

    #[test]
    fn https_uri_problems_point_at_the_host_or_the_port() {
        // (uri, offset of the problem, or None when usable)
        for (uri, at) in [
            ("https://[2001:db8::1]/r", None),
            ("https://[2001:db8::1]:443/r", None),
            ("https://user@example.com:8443/r", None),
            ("https://user@exa_mple.com/r", Some(13)),
            ("https://user@/r", Some(13)),
            ("https://exa_mple.com/r", Some(8)),
            ("https://example.com:44x/r", Some(20)),
            ("https://u@example.com:4x/r", Some(22)),
        ] {
            assert_eq!(super::check_uri(uri).err().map(|e| e.0), at, "{uri}");
        }
    }

    #[test]
    fn record_shapes_around_the_fields() {
        // (record, every code with its column, text in the first message)
        let rua = "rua=mailto:r@example.com";
        type Case<'a> = (String, Vec<(&'a str, u32)>, &'a str);
        let cases: Vec<Case> = vec![
            // Problems with a later URI of the list point at it, past the blanks before it.
            (
                format!("v=TLSRPTv1; {rua},  https://exa_mple.com/r"),
                vec![("tlsrpt-record-rua-invalid", 48)],
                "needs a host",
            ),
            (
                format!("v=TLSRPTv1; {rua},  {}", &rua[4..]),
                vec![("tlsrpt-record-rua-repeated", 40)],
                "appears twice",
            ),
            (
                format!("v=TLSRPTv1; {rua},\tftp://x.example/r"),
                vec![("tlsrpt-record-rua-scheme", 39)],
                "ftp",
            ),
            (
                format!("v=TLSRPTv1; {rua}; x!=1"),
                vec![("tlsrpt-record-field-invalid", 40)],
                "found '!'",
            ),
            (
                "v=TLSRPTv1".into(),
                vec![("tlsrpt-record-version", 11)],
                "found the end of the record",
            ),
            (
                "v=TLSRPTv1 x".into(),
                vec![("tlsrpt-record-version", 11)],
                "x",
            ),
            (format!("v=TLSRPTv1; {rua}; "), vec![], ""),
            (
                format!("v=TLSRPTv1;   ; {rua}"),
                vec![("tlsrpt-record-separator", 15)],
                "empty field",
            ),
            (
                format!("v=TLSRPTv1; {rua}  "),
                vec![("tlsrpt-record-separator", 37)],
                "whitespace after the last field",
            ),
        ];
        for (text, want, says) in cases {
            let l = lint_tlsrpt_record(&text, None);
            let got: Vec<(&str, u32)> = l.diagnostics.iter().map(|d| (d.code, d.column)).collect();
            assert_eq!(got, want, "{text:?}: {:?}", l.diagnostics);
            if let Some(d) = l.diagnostics.first() {
                assert!(d.message.contains(says), "{text:?}: {}", d.message);
            }
        }
    }

    #[test]
    fn hosts_of_rua_uris() {
        // RFC 3986 §3.2.2 reg-name (letters, digits, "-", pct-encoded) in dot-separated labels,
        // one trailing dot allowed, or an IP-literal in brackets.
        for (host, ok) in [
            ("example.com", true),
            ("example.com.", true),
            ("a-b.c", true),
            ("a%41.c", true),
            ("[1]", true),
            ("[2001:db8::1]", true),
            ("", false),
            (".", false),
            ("a..b", false),
            (".a", false),
            ("a_b.c", false),
            ("a b", false),
            ("[", false),
            ("[]", false),
            ("[1", false),
        ] {
            assert_eq!(super::host_problem(host).is_none(), ok, "{host:?}");
        }
        // What a character that is not allowed is called.
        for (uri, says) in [
            ("mailto:a b@example.com", "a URI holds no whitespace"),
            ("mailto:a\tb@example.com", "a URI holds no whitespace"),
            (
                "mailto:a\"b@example.com",
                "'\"' is not allowed in a URI (RFC 3986 §2)",
            ),
        ] {
            let (at, why) = super::check_uri_chars(uri).unwrap_err();
            assert_eq!(at, 8, "{uri}");
            assert!(why.starts_with(says), "{uri}: {why}");
        }
    }

    #[test]
    fn scheme_and_percent_encoding_are_checked_byte_by_byte() {
        // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
        for (uri, want) in [
            ("mailto:r@example.com", Some(6)),
            ("m1+.-x:y", Some(6)),
            ("1mailto:x", None),
            ("ma_ilto:x", None),
            (":x", None),
            ("mailto", None),
        ] {
            assert_eq!(super::scheme_end(uri), want, "{uri}");
        }
        // RFC 3986 §2.1: "%" HEXDIG HEXDIG, wherever it stands; RFC 8460 §3: "!" encoded.
        for (uri, want) in [
            ("mailto:a%2Cb@example.com", None),
            ("x%2C", None),
            ("%2c%21", None),
            ("%2G", Some(0)),
            ("%G2", Some(0)),
            ("a%2", Some(1)),
            ("ab%2C!", Some(5)),
            ("ab%2C%2C!", Some(8)),
        ] {
            assert_eq!(
                super::check_uri_chars(uri).err().map(|e| e.0),
                want,
                "{uri}"
            );
        }
    }

    #[test]
    fn good_records() {
        for (input, rua, ext, why) in GOOD {
            let r = parse_tlsrpt_record(input).unwrap_or_else(|e| panic!("{why}: {input:?}: {e}"));
            assert_eq!(r.version, "TLSRPTv1", "{why}");
            assert_eq!(r.rua, *rua, "{why}");
            let ext: Vec<(String, String)> = ext
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(r.extensions, ext, "{why}");
            let lint = lint_tlsrpt_record(input, Some("_smtp._tls.example.com"));
            assert_eq!(lint.record.as_ref(), Some(&r), "{why}: lint agrees");
            assert!(lint.diagnostics.iter().all(|d| !d.is_error()), "{why}");
            assert_eq!(
                select_tlsrpt_record(&[vec![input.to_string()]]),
                Ok(Some(r)),
                "{why}: selected"
            );
        }
    }

    #[test]
    fn bad_records() {
        for (input, problem, column, why) in BAD {
            let e = parse_tlsrpt_record(input).expect_err(why);
            assert_eq!(e.code(), "tlsrpt-record-invalid", "{why}");
            let d = e.diagnostic().expect("a diagnostic");
            assert_eq!(
                (d.code, d.column, d.line),
                (*problem, *column, 1),
                "{why}: {input:?}: {}",
                d.message
            );
            assert_eq!(e.rfc(), "RFC 8460 §3");
            assert_eq!(e.tlsrpt_result(), "validation-failure");
            let lint = lint_tlsrpt_record(input, None);
            assert_eq!(lint.record, None, "{why}");
            assert_eq!(
                lint.diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.code),
                Some(*problem),
                "{why}"
            );
        }
    }

    #[test]
    fn messages_say_what_was_expected_and_found() {
        let msg = |t: &str| {
            parse_tlsrpt_record(t)
                .unwrap_err()
                .diagnostic()
                .unwrap()
                .message
                .clone()
        };
        assert!(msg("v=tlsrptv1; rua=mailto:a@b.c").contains("case-sensitive"));
        assert!(msg("v=STSv1; id=1").contains("MTA-STS record"));
        assert!(msg("v=TLSRPTv2; rua=mailto:a@b.c").contains("\"TLSRPTv2\""));
        assert!(msg("v=TLSRPTv1; rua=a@example.com").contains("write mailto:a@example.com"));
        assert!(msg("v=TLSRPTv1; RUA=mailto:a@b.c").contains("case-sensitive: found \"RUA\""));
        assert!(msg("v=TLSRPTv1; ruf=mailto:a@b.c").contains("publish the address as rua"));
        assert!(msg("v=TLSRPTv1; rua=mailto:a@b.c!10m").contains("%21"));
        assert!(msg("v=TLSRPTv1; rua=http://r.example/").contains("nowhere to send reports"));
    }

    #[test]
    fn lint_warnings_and_names() {
        let codes = |t: &str, n: Option<&str>| -> Vec<&'static str> {
            lint_tlsrpt_record(t, n)
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect()
        };
        let good = "v=TLSRPTv1; rua=mailto:a@example.com";
        assert_eq!(
            codes(good, Some("_smtp._tls.example.com")),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(good, Some("_SMTP._TLS.example.com.")),
            Vec::<&str>::new(),
            "DNS names are case-insensitive"
        );
        assert_eq!(
            codes(good, Some("_smtp-tlsrpt.example.com")),
            ["tlsrpt-record-draft-name"]
        );
        assert_eq!(
            codes(good, Some("_mta-sts.example.com")),
            ["tlsrpt-record-name"]
        );
        assert_eq!(
            codes(good, Some("_smtp._tls.")),
            ["tlsrpt-record-name"],
            "no domain"
        );
        assert!(
            lint_tlsrpt_record(good, Some("_smtp-tlsrpt.example.com"))
                .record
                .is_none(),
            "a wrong name is an error"
        );
        let ruf = lint_tlsrpt_record(
            "v=TLSRPTv1; rua=mailto:a@example.com; ruf=mailto:a@example.com",
            None,
        );
        assert_eq!(
            ruf.diagnostics
                .iter()
                .map(|d| (d.code, d.severity))
                .collect::<Vec<_>>(),
            [("tlsrpt-record-draft-ruf", Severity::Warning)]
        );
        assert!(ruf.record.is_some());
        assert_eq!(
            codes(
                "v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com",
                None
            ),
            ["tlsrpt-record-rua-repeated"]
        );
        assert_eq!(
            parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com")
                .unwrap()
                .rua,
            ["mailto:a@example.com"],
            "a repeated URI is listed once"
        );
        assert_eq!(
            codes(
                "v=TLSRPTv1; rua=mailto:a@example.com, http://r.example/",
                None
            ),
            ["tlsrpt-record-rua-scheme"]
        );
        assert_eq!(
            codes("v=TLSRPTv1; rua=mailto:a@example.com; x=1; x=2", None),
            ["tlsrpt-record-extension-duplicate"]
        );
        // Every problem, not just the first.
        assert_eq!(
            codes(
                "v=TLSRPTv1;; rua=nope, mailto:x; junk",
                Some("_smtp-tlsrpt.example.com")
            ),
            [
                "tlsrpt-record-separator",
                "tlsrpt-record-rua-invalid",
                "tlsrpt-record-rua-invalid",
                "tlsrpt-record-field-invalid",
                "tlsrpt-record-draft-name"
            ]
        );
        for d in lint_tlsrpt_record("v=TLSRPTv1; rua=x", Some("x")).diagnostics {
            assert_eq!(d.rfc, "RFC 8460 §3");
        }
    }

    #[test]
    fn selection() {
        let rec = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // RFC 8460 §3: no record, or none beginning "v=TLSRPTv1;": the domain has no TLS-RPT.
        assert_eq!(select_tlsrpt_record::<Vec<String>, String>(&[]), Ok(None));
        assert_eq!(
            select_tlsrpt_record(&[
                rec(&["v=spf1 -all"]),
                rec(&["v=TLSRPTv1"]),
                rec(&["v=TLSRPTv1 ; rua=mailto:a@b.c"])
            ]),
            Ok(None)
        );
        // Strings of one record are concatenated without separator.
        let split =
            select_tlsrpt_record(&[rec(&["v=TLSRPTv1; rua=mailto:tls", "rpt@example.com"])])
                .unwrap()
                .unwrap();
        assert_eq!(split.rua, ["mailto:tlsrpt@example.com"]);
        // Others are ignored.
        let one = select_tlsrpt_record(&[
            rec(&["v=spf1 -all"]),
            rec(&["v=TLSRPTv1; rua=mailto:a@b.c"]),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(one.rua, ["mailto:a@b.c"]);
        // More than one: not one record, so no TLS-RPT (even when both are equal).
        let two = select_tlsrpt_record(&[
            rec(&["v=TLSRPTv1; rua=mailto:a@b.c"]),
            rec(&["v=TLSRPTv1; rua=mailto:a@b.c"]),
        ])
        .unwrap_err();
        assert_eq!(
            (two.code(), two.rfc(), two.to_string().as_str()),
            (
                "tlsrpt-record-multiple",
                "RFC 8460 §3",
                "expected one TXT record beginning with \"v=TLSRPTv1;\", found 2"
            )
        );
        assert!(!two.is_temporary());
        // The one record is invalid.
        let bad = select_tlsrpt_record(&[rec(&["v=TLSRPTv1; rua=nope"])]).unwrap_err();
        assert_eq!(bad.code(), "tlsrpt-record-invalid");
        assert_eq!(
            bad.to_string(),
            "line 1, column 17: expected a URI with a scheme, mailto: or https:, found \"nope\""
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic_and_stay_bounded() {
        let mb = 1 << 20;
        let inputs = [
            format!("v=TLSRPTv1; rua={}", ",".repeat(100_000)),
            format!(
                "v=TLSRPTv1; rua=mailto:a@example.com{}",
                ", mailto:a@example.com".repeat(40_000)
            ),
            format!("v=TLSRPTv1; rua=mailto:{}@example.com", "a".repeat(mb)),
            format!("v=TLSRPTv1; rua=mailto:a@example.com;{}", ";".repeat(mb)),
            format!("v=TLSRPTv1;{}", " x=1;".repeat(mb / 5)),
            format!("v=TLSRPTv1; rua=https://{}", "é".repeat(mb / 2)),
            "v=TLSRPTv1; rua=mailto:a@\u{0}; \u{7f}=\u{fffd}".to_string(),
        ];
        for text in &inputs {
            let _ = parse_tlsrpt_record(text);
            let lint = lint_tlsrpt_record(text, Some(text));
            assert!(lint.diagnostics.len() <= crate::diagnostic::MAX_DIAGNOSTICS + 2);
            let _ = select_tlsrpt_record(&[vec![text.clone()], vec![text.clone()]]);
        }
        let commas = parse_tlsrpt_record(&inputs[0]).unwrap_err();
        assert_eq!(
            commas.diagnostic().unwrap().code,
            "tlsrpt-record-rua-invalid"
        );
        assert_eq!(parse_tlsrpt_record(&inputs[1]).unwrap().rua.len(), 1);
        assert!(parse_tlsrpt_record(&inputs[2]).is_ok(), "long but valid");
        // Every prefix of a good record, cut at any byte: no panic.
        let good = "v=TLSRPTv1; rua=mailto:é@example.com,https://[::1]:1/%41; x=y";
        for i in 0..=good.len() {
            if good.is_char_boundary(i) {
                let _ = lint_tlsrpt_record(&good[..i], Some(&good[i..]));
            }
        }
    }

    /// fuzz/linear-time.sh found many distinct extensions quadratic (a scan of those before);
    /// the set that replaced it must still see a repeat after thousands.
    #[test]
    fn many_extensions_and_a_late_repeat() {
        let many: String = (0..5_000).map(|i| format!("; x{i}=v")).collect();
        let text = format!("v=TLSRPTv1; rua=mailto:r@example.com{many}");
        assert_eq!(parse_tlsrpt_record(&text).unwrap().extensions.len(), 5_000);
        let lint = lint_tlsrpt_record(&format!("{text}; x4321=w"), None);
        assert_eq!(
            lint.diagnostics.last().map(|d| d.code),
            Some("tlsrpt-record-extension-duplicate")
        );
        assert_eq!(
            lint.record.unwrap().extensions[4_321].1,
            "v",
            "the first counts"
        );
    }
}
