//! The `_mta-sts` TXT record (RFC 8461 §3.1).
//!
//! ```text
//! sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
//! sts-field       = sts-id / sts-extension        ; Note that sts-id record is required.
//! sts-field-delim = *WSP ";" *WSP
//! sts-version     = %s"v=STSv1"
//! sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//! sts-extension   = sts-ext-name "=" sts-ext-value
//! sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//! sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)  ; excluding "=", ";", SP, and control chars
//! ```
//!
//! Selection (§3.1): the strings of one TXT record are concatenated without separator; records
//! that do not begin with `v=STSv1;` are discarded (they are not MTA-STS records at all); if the
//! number left is not one, or the one left is invalid, the domain has no usable policy. The types
//! keep "not an MTA-STS record" (`Ok(None)`) apart from "an invalid one" (`Err`).

use crate::diagnostic::{column_of, shown, Diagnostic, Diagnostics, Problem, Severity};
use crate::error::{Error, RecordError};
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use std::collections::HashSet;

/// A valid MTA-STS TXT record. The version is always `STSv1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `id`: 1–32 letters and digits; a change tells senders to fetch the policy again.
    pub id: String,
    /// Extension fields in order of appearance; for a repeated name the first counts.
    pub extensions: Vec<(String, String)>,
}

/// Everything lint mode found in a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLint {
    pub record: Option<Record>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Kinds of problem with a TXT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordProblem {
    /// Does not begin with `v=STSv1;`.
    Version,
    /// An empty field, whitespace where none may be, or text after the last field.
    Separator,
    /// A field that is not `name=value`, or whose name breaks `sts-ext-name`.
    Field,
    IdMissing,
    IdInvalid,
    IdDuplicate,
    ExtensionValue,
    /// A repeated extension name (warning: the first counts).
    ExtensionDuplicate,
    /// The record is published at the draft-era name `_mta_sts` (underscore).
    DraftName,
    /// The record is published at a name other than `_mta-sts.<domain>`.
    Name,
}

impl Problem for RecordProblem {
    fn code(self) -> &'static str {
        match self {
            RecordProblem::Version => "record-version",
            RecordProblem::Separator => "record-separator",
            RecordProblem::Field => "record-field-invalid",
            RecordProblem::IdMissing => "record-id-missing",
            RecordProblem::IdInvalid => "record-id-invalid",
            RecordProblem::IdDuplicate => "record-id-duplicate",
            RecordProblem::ExtensionValue => "record-extension-invalid",
            RecordProblem::ExtensionDuplicate => "record-extension-duplicate",
            RecordProblem::DraftName => "record-draft-name",
            RecordProblem::Name => "record-name",
        }
    }

    fn severity(self) -> Severity {
        match self {
            RecordProblem::ExtensionDuplicate => Severity::Warning,
            _ => Severity::Error,
        }
    }

    fn rfc(self) -> &'static str {
        "RFC 8461 §3.1"
    }
}

/// The prefix that makes a TXT record an MTA-STS record at all (§3.1).
pub const RECORD_PREFIX: &str = "v=STSv1;";
const VERSION: &str = "v=STSv1";
/// §3.1: `1*32(ALPHA / DIGIT)`.
pub const MAX_ID: usize = 32;

fn is_wsp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The characters of `sts-ext-name` after the first, by table (checked on every key of every line).
const EXT_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
        b += 1;
    }
    t
};

/// `sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`; on failure the byte
/// offset and a reason. Shared with the policy grammar (§3.2 uses the same production).
pub fn check_ext_name(name: &str) -> Result<(), (usize, String)> {
    let b = name.as_bytes();
    if (1..=32).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| EXT_NAME[c as usize])
    {
        return Ok(());
    }
    match b.first() {
        None => return Err((0, "expected a field name, found nothing".into())),
        Some(c) if !c.is_ascii_alphanumeric() => {
            let first = name.chars().next().unwrap_or('?');
            return Err((
                0,
                format!("a field name must begin with a letter or digit, found {first:?}"),
            ));
        }
        _ => {}
    }
    if b.len() > 32 {
        return Err((
            32,
            format!("a field name is at most 32 characters, found {}", b.len()),
        ));
    }
    if let Some(i) = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')))
    {
        let c = name[i..].chars().next().unwrap_or('?');
        return Err((
            i,
            format!("field names hold letters, digits, \"_\", \"-\" and \".\", found {c:?}"),
        ));
    }
    Ok(())
}

struct Scan<'a> {
    text: &'a str,
    diags: Diagnostics,
}

impl Scan<'_> {
    fn report(&mut self, problem: RecordProblem, at: usize, message: String) {
        // Past the cap only the count is kept: the column costs a walk over the text, and a
        // record of 10,000 empty fields was quadratic (found by fuzz/linear-time.sh).
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
    } else if lower.starts_with("v=stsv1") {
        format!(
            "found {} (the version is case-sensitive)",
            shown(&text[..VERSION.len().min(text.len())])
        )
    } else if lower.starts_with("v=tlsrptv1") {
        "found a TLS-RPT record (RFC 8460), which belongs at _smtp._tls.<domain>".into()
    } else if lower.starts_with("v=spf1") {
        "found an SPF record".into()
    } else if lower.starts_with("v=dmarc1") {
        "found a DMARC record".into()
    } else {
        format!("found {}", shown(text))
    }
}

fn scan(text: &str) -> (Option<Record>, Diagnostics) {
    let mut s = Scan {
        text,
        diags: Diagnostics::default(),
    };
    if !text.starts_with(VERSION) {
        let hint = version_hint(text);
        s.report(
            RecordProblem::Version,
            0,
            format!("expected the record to begin with \"v=STSv1;\", {hint}"),
        );
        return (None, s.diags);
    }
    let b = text.as_bytes();
    let mut pos = VERSION.len();
    if b.get(pos) != Some(&b';') {
        let message = if pos == b.len() {
            "expected \";\" and an id after \"v=STSv1\", found the end of the record".to_string()
        } else {
            format!(
                "expected \";\" right after \"v=STSv1\" (records not beginning with \"v=STSv1;\" are discarded), found {}",
                shown(&text[pos..])
            )
        };
        s.report(RecordProblem::Version, pos, message);
        return (None, s.diags);
    }
    let mut id: Option<String> = None;
    let mut extensions: Vec<(String, String)> = Vec::new();
    // The extension names kept, for the repeat check.
    let mut names: HashSet<&str> = HashSet::new();
    let mut id_like_name: Option<String> = None;
    // Invariant: `pos` is at a ";" that ends the previous field.
    while pos < b.len() {
        pos += 1; // the ";"
        while pos < b.len() && is_wsp(b[pos]) {
            pos += 1;
        }
        if pos == b.len() {
            break; // [sts-field-delim] at the end
        }
        let end = text[pos..].find(';').map_or(b.len(), |i| pos + i);
        let mut field_end = end;
        while field_end > pos && is_wsp(b[field_end - 1]) {
            field_end -= 1;
        }
        if field_end < end && end == b.len() {
            s.report(RecordProblem::Separator, field_end, "whitespace after the last field is not allowed (end the record with the value or with \";\")".into());
        }
        let field = &text[pos..field_end];
        if field.is_empty() {
            s.report(
                RecordProblem::Separator,
                pos,
                "empty field: two \";\" in a row".into(),
            );
            pos = end;
            continue;
        }
        let Some(eq) = field.find('=') else {
            s.report(
                RecordProblem::Field,
                pos,
                format!("expected a field \"name=value\", found {}", shown(field)),
            );
            pos = end;
            continue;
        };
        let (name, value) = (&field[..eq], &field[eq + 1..]);
        if let Err((at, why)) = check_ext_name(name) {
            s.report(RecordProblem::Field, pos + at, why);
        } else if name == "id" {
            // §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT)
            let at = pos + eq + 1;
            if let Some(bad) = value.bytes().position(|c| !c.is_ascii_alphanumeric()) {
                let c = value[bad..].chars().next().unwrap_or('?');
                let extra = if c == ' ' || c == '\t' {
                    " (fields are separated by \";\")"
                } else {
                    ""
                };
                s.report(
                    RecordProblem::IdInvalid,
                    at + bad,
                    format!("id holds letters and digits only, found {c:?}{extra}"),
                );
            } else if value.is_empty() {
                s.report(
                    RecordProblem::IdInvalid,
                    at,
                    "id must have 1 to 32 letters or digits, found none".into(),
                );
            } else if value.len() > MAX_ID {
                s.report(
                    RecordProblem::IdInvalid,
                    at + MAX_ID,
                    format!("id is at most 32 characters, found {}", value.len()),
                );
            } else if id.is_some() {
                // Spec: the grammar allows sts-id twice; two ids make the policy instance ambiguous.
                s.report(
                    RecordProblem::IdDuplicate,
                    pos,
                    "id appears more than once".into(),
                );
            } else {
                id = Some(value.to_string());
            }
        } else {
            if name.eq_ignore_ascii_case("id") {
                id_like_name = Some(name.to_string());
            }
            let at = pos + eq + 1;
            if value.is_empty() {
                s.report(
                    RecordProblem::ExtensionValue,
                    at,
                    format!("extension {name} needs a value"),
                );
            } else if let Some(bad) = value
                .bytes()
                .position(|c| !matches!(c, 0x21..=0x3a | 0x3c | 0x3e..=0x7e))
            {
                let c = value[bad..].chars().next().unwrap_or('?');
                s.report(RecordProblem::ExtensionValue, at + bad, format!("extension values exclude \"=\", \";\", spaces and control characters, found {c:?}"));
            } else if !names.insert(name) {
                // Found by fuzz/linear-time.sh: a scan of the extensions before made a record of
                // many distinct extensions quadratic.
                s.report(
                    RecordProblem::ExtensionDuplicate,
                    pos,
                    format!("extension {name} appears more than once; the first counts"),
                );
            } else {
                extensions.push((name.to_string(), value.to_string()));
            }
        }
        pos = end;
    }
    if id.is_none()
        && !s
            .diags
            .list
            .iter()
            .any(|d| d.code == "record-id-invalid" || d.code == "record-id-duplicate")
    {
        let hint = match id_like_name {
            Some(n) => format!(" (field names are case-sensitive: found {})", shown(&n)),
            None => String::new(),
        };
        s.report(
            RecordProblem::IdMissing,
            text.len(),
            format!("the id field is required{hint}"),
        );
    }
    let record = match (id, s.diags.has_error()) {
        (Some(id), false) => Some(Record { id, extensions }),
        _ => None,
    };
    (record, s.diags)
}

/// Parses one TXT record (its strings already concatenated) under the §3.1 grammar.
pub fn parse_record(text: &str) -> Result<Record, Error> {
    let (record, diags) = scan(text);
    match (record, diags.first_error) {
        (Some(r), None) => Ok(r),
        (_, Some(d)) => Err(RecordError::Invalid(d).into()),
        (None, None) => unreachable_invalid(),
    }
}

fn unreachable_invalid() -> Result<Record, Error> {
    // scan() returns no record only together with an error; kept total instead of panicking.
    Err(RecordError::Invalid(Diagnostic::new(
        RecordProblem::Field,
        "invalid record".into(),
        1,
        1,
    ))
    .into())
}

/// Applies §3.1 selection to the TXT records at `_mta-sts.<domain>`, each given as its strings.
/// `Ok(None)`: no MTA-STS record. `Err(record-multiple)`: more than one. `Err(record-invalid)`:
/// the one record is invalid. In both error cases the domain has no usable policy.
pub fn select_record<R, S>(records: &[R]) -> Result<Option<Record>, Error>
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    // §3.1: the strings of one record are concatenated without separator; records that do not
    // begin with "v=STSv1;" are discarded; if the number remaining is not one, no usable policy.
    match crate::txt::select_one(records, RECORD_PREFIX) {
        crate::txt::Selected::None => Ok(None),
        crate::txt::Selected::Many(count) => Err(RecordError::Multiple { count }.into()),
        crate::txt::Selected::One(text) => parse_record(&text).map(Some),
    }
}

/// Lint mode: every problem in a record, and in the name it was published at when given.
pub fn lint_record(text: &str, name: Option<&str>) -> RecordLint {
    let (record, mut diags) = scan(text);
    if let Some(name) = name {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("_mta_sts.") {
            diags.push(Diagnostic::new(
                RecordProblem::DraftName,
                format!("the record is at {}, a draft-era spelling; RFC 8461 §3.1 puts it at \"_mta-sts.\" (hyphen) followed by the domain", shown(name)),
                0,
                0,
            ));
        } else if !lower.starts_with("_mta-sts.") {
            diags.push(Diagnostic::new(
                RecordProblem::Name,
                format!(
                    "MTA-STS records live at \"_mta-sts.<domain>\", found {}",
                    shown(name)
                ),
                0,
                0,
            ));
        }
    }
    let record = if diags.has_error() { None } else { record };
    RecordLint {
        record,
        diagnostics: diags.finish(),
    }
}

pub(crate) struct Extensions<'a>(pub &'a [(String, String)]);

impl Serialize for Extensions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Serialised as `{ version: "STSv1", id, extensions: { name: value } }`.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Record", 3)?;
        st.serialize_field("version", "STSv1")?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("extensions", &Extensions(&self.extensions))?;
        st.end()
    }
}

impl Serialize for RecordLint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RecordLint", 2)?;
        st.serialize_field("record", &self.record)?;
        st.serialize_field("diagnostics", &self.diagnostics)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::MAX_DIAGNOSTICS;

    #[test]
    fn the_ext_name_table_is_the_abnf() {
        // §3.1 sts-ext-name after its first character: ALPHA / DIGIT / "_" / "-" / ".". The
        // table is the fast path; check_ext_name's explanation re-derives it, so a wrong table
        // would only be slow, and this is where it shows.
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
            assert_eq!(EXT_NAME[c as usize], want, "byte {c:#04x}");
        }
        for name in ["a_b", "a-b", "a.b", "A9", &"x".repeat(32)] {
            assert_eq!(check_ext_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn what_each_problem_says() {
        /// (record, TXT name, every code with the column it points at, text in the first message)
        type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, u32)], &'a str);
        let cases: &[Case] = &[
            (
                " v=STSv1; id=1",
                None,
                &[("record-version", 1)],
                "found leading whitespace",
            ),
            (
                "V=STSV1; id=1",
                None,
                &[("record-version", 1)],
                "found \"V=STSV1\" (the version is case-sensitive)",
            ),
            (
                "v=TLSRPTv1; rua=mailto:r@example.com",
                None,
                &[("record-version", 1)],
                "found a TLS-RPT record (RFC 8460)",
            ),
            (
                "v=spf1 -all",
                None,
                &[("record-version", 1)],
                "found an SPF record",
            ),
            (
                "v=DMARC1; p=none",
                None,
                &[("record-version", 1)],
                "found a DMARC record",
            ),
            ("hello", None, &[("record-version", 1)], "found \"hello\""),
            (
                "v=STSv1",
                None,
                &[("record-version", 8)],
                "found the end of the record",
            ),
            (
                "v=STSv1 id=1",
                None,
                &[("record-version", 8)],
                "right after \"v=STSv1\"",
            ),
            (
                "v=STSv1; id=ab cd",
                None,
                &[("record-id-invalid", 15)],
                "(fields are separated by \";\")",
            ),
            (
                "v=STSv1; id=ab\tcd",
                None,
                &[("record-id-invalid", 15)],
                "(fields are separated by \";\")",
            ),
            (
                "v=STSv1; id=ab!cd",
                None,
                &[("record-id-invalid", 15)],
                "found '!'",
            ),
            (
                "v=STSv1; ID=1",
                None,
                &[("record-id-missing", 14)],
                "(field names are case-sensitive: found \"ID\")",
            ),
            (
                "v=STSv1; x!=1",
                None,
                &[("record-field-invalid", 11), ("record-id-missing", 14)],
                "field names hold",
            ),
            ("v=STSv1; id=1", Some("_mta-sts.example.com"), &[], ""),
            ("v=STSv1; id=1", Some("_MTA-STS.Example.com"), &[], ""),
            (
                "v=STSv1; id=1",
                Some("example.com"),
                &[("record-name", 0)],
                "MTA-STS records live at \"_mta-sts.<domain>\"",
            ),
        ];
        for (text, name, want, says) in cases {
            let l = lint_record(text, *name);
            let got: Vec<(&str, u32)> = l.diagnostics.iter().map(|d| (d.code, d.column)).collect();
            assert_eq!(got, *want, "{text:?}: {:?}", l.diagnostics);
            if let Some(d) = l.diagnostics.first() {
                assert!(d.message.contains(says), "{text:?}: {}", d.message);
            }
        }
        // A 32-character name with a bad byte is told about the byte, not its length.
        let name = format!("abcd!{}", "x".repeat(27));
        let (at, why) = check_ext_name(&name).unwrap_err();
        assert_eq!(at, 4, "{why}");
        assert!(why.contains("found '!'"), "{why}");
    }

    /// fuzz/linear-time.sh found both shapes quadratic; these pin what the linear code must
    /// still say about them.
    #[test]
    fn many_extensions_and_many_empty_fields() {
        // 5,000 distinct extensions are all kept, in order; a repeat after them is still seen.
        let many: String = (0..5_000).map(|i| format!("; x{i}=v")).collect();
        let r = parse_record(&format!("v=STSv1; id=1{many}")).unwrap();
        assert_eq!(r.extensions.len(), 5_000);
        assert_eq!(r.extensions[4_999], ("x4999".to_string(), "v".to_string()));
        let lint = lint_record(&format!("v=STSv1; id=1{many}; x17=w"), None);
        let repeat = lint.diagnostics.last().unwrap();
        assert_eq!(repeat.code, "record-extension-duplicate");
        assert_eq!(
            repeat.rfc, "RFC 8461 §3.1",
            "every record problem cites §3.1"
        );
        assert_eq!(
            lint.record.unwrap().extensions[17].1,
            "v",
            "§3.1: the first counts"
        );
        // 5,000 empty fields: the first error names the first one; lint lists the cap and
        // counts the rest.
        let text = format!("v=STSv1; id=1{}", ";".repeat(5_001));
        let e = parse_record(&text).unwrap_err();
        assert_eq!(e.code(), "record-invalid");
        let lint = lint_record(&text, None);
        assert_eq!(lint.diagnostics.len(), MAX_DIAGNOSTICS + 1);
        assert_eq!(
            lint.diagnostics[0].column, 15,
            "the second \";\" after id=1"
        );
        let note = lint.diagnostics.last().unwrap();
        assert_eq!(note.code, "lint-truncated");
        let dropped = 5_000 - MAX_DIAGNOSTICS;
        assert!(
            note.message.starts_with(&dropped.to_string()),
            "{}",
            note.message
        );
    }
}
