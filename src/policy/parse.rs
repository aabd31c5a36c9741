//! The §3.2 policy parser. One scan collects every problem; `parse_*` return the first error,
//! `lint_*` return them all. Linear in the input: one pass over the lines, hashed duplicate checks.

use super::draft::diagnose_json;
use super::{Lint, Mode, Policy, PolicyProblem, MAX_AGE_ADVISED, MAX_AGE_LIMIT};
use crate::diagnostic::{column_of, shown, Diagnostic, Diagnostics, Problem, Severity};
use crate::error::{Error, PolicyError};
use crate::mx::MxPattern;
use crate::record::check_ext_name;
use std::collections::HashSet;

/// The first index of an ASCII byte: a plain loop beats `str::find`'s searcher on lines this short.
fn byte_at(s: &str, byte: u8) -> Option<usize> {
    s.as_bytes().iter().position(|&b| b == byte)
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// §3.2 `sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]`,
/// with `sts-policy-vchar = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4`. `value` has no trailing WSP.
/// Returns the byte offset of the first character that breaks it.
fn check_ext_value(value: &str) -> Option<usize> {
    value
        .char_indices()
        .find(|&(_, c)| c.is_ascii_control() || (c.is_ascii() && c == '\t'))
        .map(|(i, _)| i)
}

/// Known keys, for "did you mean" hints on near misses (`Mode`, `max-age`, `MX`).
const KNOWN: [&str; 4] = ["version", "mode", "max_age", "mx"];

fn near_miss(key: &str) -> Option<&'static str> {
    let folded: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    KNOWN.into_iter().find(|k| k.replace('_', "") == folded)
}

struct Seen<'a> {
    version: bool,
    mode: Option<Mode>,
    mode_line: bool,
    max_age: Option<u32>,
    max_age_line: bool,
    mx: Vec<MxPattern>,
    mx_lines: usize,
    mx_seen: Option<HashSet<String>>,
    extensions: Vec<(String, String)>,
    /// Extension keys seen, hashed once there are many (a hostile policy may have 100k).
    extension_keys: Option<HashSet<String>>,
    /// The text scanned, and the byte spans of every mx value, then every extension key and
    /// value kept (see [`parse_policy_layout`]).
    source: &'a str,
    /// False when only the layout is wanted: no strings are copied.
    keep_strings: bool,
    mx_spans: Vec<[usize; 2]>,
    extension_spans: Vec<[usize; 4]>,
}

/// Up to this many extensions, repeats are found by a linear scan (no hashing, no allocation).
const LINEAR_KEYS: usize = 16;

/// The keys §3.2 defines (keys are case-sensitive).
#[derive(Clone, Copy)]
enum Known {
    Version,
    Mode,
    MaxAge,
    Mx,
}

impl Known {
    fn of(key: &str) -> Option<Known> {
        match key {
            "version" => Some(Known::Version),
            "mode" => Some(Known::Mode),
            "max_age" => Some(Known::MaxAge),
            "mx" => Some(Known::Mx),
            _ => None,
        }
    }
}

impl Seen<'_> {
    /// §3.2: for keys other than "mx", the first occurrence counts; true for a later one.
    fn repeats(&self, known: Option<Known>, key: &str) -> bool {
        match known {
            Some(Known::Mx) => false,
            Some(Known::Version) => self.version,
            Some(Known::Mode) => self.mode_line,
            Some(Known::MaxAge) => self.max_age_line,
            None => match &self.extension_keys {
                Some(set) => set.contains(key),
                None => self
                    .extension_spans
                    .iter()
                    .any(|&[s, e, _, _]| self.text(s, e) == key),
            },
        }
    }

    /// The scanned text between two byte offsets.
    fn text(&self, start: usize, end: usize) -> &str {
        &self.source[start..end]
    }

    /// The byte span of `part`, a slice of the scanned text.
    fn span(&self, part: &str) -> [usize; 2] {
        let start = part.as_ptr() as usize - self.source.as_ptr() as usize;
        [start, start + part.len()]
    }

    fn add_extension(&mut self, key: &str, value: &str) {
        let ([ks, ke], [vs, ve]) = (self.span(key), self.span(value));
        self.extension_spans.push([ks, ke, vs, ve]);
        if self.keep_strings {
            self.extensions.push((key.to_string(), value.to_string()));
        }
        if let Some(set) = &mut self.extension_keys {
            set.insert(key.to_string());
        } else if self.extension_spans.len() > LINEAR_KEYS {
            let keys = self
                .extension_spans
                .iter()
                .map(|&[s, e, _, _]| self.text(s, e).to_string())
                .collect();
            self.extension_keys = Some(keys);
        }
    }
}

struct Line<'a> {
    number: u32,
    text: &'a str,
}

impl Line<'_> {
    /// Records a problem; the message is only made when the diagnostics want it (a strict parse
    /// builds no warnings and stops at the first error).
    fn report(
        &self,
        diags: &mut Diagnostics,
        problem: PolicyProblem,
        at: usize,
        message: impl FnOnce() -> String,
    ) {
        if diags.wants(problem.severity()) {
            diags.push(Diagnostic::new(
                problem,
                message(),
                self.number,
                column_of(self.text, at),
            ));
        }
    }
}

/// Byte spans of the policy's strings in the scanned text: mx values, then extension key/value.
pub(crate) struct Spans {
    pub mx: Vec<[usize; 2]>,
    pub extensions: Vec<[usize; 4]>,
}

fn scan(text: &str, diags: &mut Diagnostics) -> Option<Policy> {
    scan_with_spans(text, diags, true).map(|(p, _)| p)
}

/// `keep_strings`: false when only the layout is wanted; the policy then has no mx or extension
/// strings (the spans say where they are).
fn scan_with_spans(
    text: &str,
    diags: &mut Diagnostics,
    keep_strings: bool,
) -> Option<(Policy, Spans)> {
    if text.trim_start().starts_with('{') {
        diags.push(diagnose_json(text));
        return None;
    }
    if text.trim().is_empty() {
        diags.push(Diagnostic::new(PolicyProblem::Empty, "the policy is empty; expected \"version: STSv1\", \"mode\", \"max_age\" and \"mx\" lines".into(), 1, 1));
        return None;
    }
    let mut seen = Seen {
        version: false,
        mode: None,
        mode_line: false,
        max_age: None,
        max_age_line: false,
        mx: Vec::new(),
        mx_lines: 0,
        mx_seen: None,
        extensions: Vec::new(),
        extension_keys: None,
        source: text,
        keep_strings,
        mx_spans: Vec::new(),
        extension_spans: Vec::new(),
    };
    let mut rest = text;
    let mut number = 0u32;
    while !rest.is_empty() {
        number = number.saturating_add(1);
        let (end, first_cr) = line_end(rest.as_bytes());
        let raw = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        // §3.2: sts-policy-term = LF / CRLF; a CR elsewhere is not a line end.
        let body = raw.strip_suffix('\r').unwrap_or(raw);
        let line = Line { number, text: raw };
        if let Some(cr) = first_cr.filter(|&cr| cr < body.len()) {
            line.report(diags, PolicyProblem::BareCr, cr, || "a carriage return (CR) must be followed by a line feed (LF); lines end with LF or CRLF".into());
            continue;
        }
        scan_line(&line, body, &mut seen, diags);
        if diags.done() {
            return None;
        }
    }
    finish(seen, diags)
}

/// One pass finds the end of a line (its first LF, or the end of `b`) and its first CR: eight
/// bytes at a time, the first LF or CR of a word located by its bit position, then byte by byte
/// after a CR (rare: a CRLF ends at the next byte) and for the last few bytes.
fn line_end(b: &[u8]) -> (usize, Option<usize>) {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // The high bit of each byte of `w` that is `byte` is set, and no bit below the first such
    // byte (the has-zero-byte test on `w ^ byte`: borrows only run upwards from a match).
    let has = |w: u64, byte: u8| {
        let x = w ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let w = u64::from_le_bytes(chunk);
        let found = has(w, b'\n') | has(w, b'\r');
        if found != 0 {
            i += (found.trailing_zeros() / 8) as usize;
            if b[i] == b'\n' {
                return (i, None);
            }
            break;
        }
        i += 8;
    }
    let mut first_cr = None;
    while i < b.len() && b[i] != b'\n' {
        if b[i] == b'\r' && first_cr.is_none() {
            first_cr = Some(i);
        }
        i += 1;
    }
    (i, first_cr)
}

fn scan_line(line: &Line, body: &str, seen: &mut Seen<'_>, diags: &mut Diagnostics) {
    let b = body.as_bytes();
    if b.iter().all(|&c| is_wsp(c)) {
        // Interop: blank lines are outside the grammar but harmless; many servers add one at the end.
        line.report(diags, PolicyProblem::BlankLine, 0, || {
            "blank line (the grammar has none; senders may reject the policy)".into()
        });
        return;
    }
    if is_wsp(b[0]) {
        line.report(diags, PolicyProblem::Line, 0, || "a line must begin with its key, found leading whitespace (continuation lines are not allowed)".into());
        return;
    }
    let Some(colon) = byte_at(body, b':') else {
        line.report(diags, PolicyProblem::Line, 0, || {
            format!("expected \"key: value\", found {}", shown(body))
        });
        return;
    };
    let key = &body[..colon];
    // The four keys of §3.2 are valid field names; only other keys need the name check.
    let known = Known::of(key);
    if let Err((at, why)) = known.map_or_else(|| check_ext_name(key), |_| Ok(())) {
        let why = if key.starts_with('\u{feff}') {
            "the file begins with a byte order mark (U+FEFF); remove it".to_string()
        } else if key.ends_with([' ', '\t']) {
            format!(
                "no whitespace is allowed between the key and \":\", found {}",
                shown(key)
            )
        } else {
            why
        };
        line.report(diags, PolicyProblem::Key, at, || why);
        return;
    }
    // field-delim = ":" *WSP; each field is followed by *WSP.
    let mut start = colon + 1;
    while start < b.len() && is_wsp(b[start]) {
        start += 1;
    }
    let mut end = b.len();
    while end > start && is_wsp(b[end - 1]) {
        end -= 1;
    }
    if end < b.len() {
        line.report(diags, PolicyProblem::TrailingWhitespace, end, || {
            "trailing whitespace".into()
        });
    }
    let value = &body[start..end];
    if seen.repeats(known, key) {
        // §3.2: for keys other than "mx", the first occurrence counts.
        line.report(diags, PolicyProblem::DuplicateKey, 0, || {
            format!("{key} appears again; the first occurrence counts and this line is ignored")
        });
        return;
    }
    match known {
        Some(Known::Version) => {
            seen.version = true;
            if value != "STSv1" {
                let hint = if value.eq_ignore_ascii_case("stsv1") {
                    " (the version is case-sensitive)"
                } else {
                    ""
                };
                line.report(diags, PolicyProblem::VersionInvalid, start, || {
                    format!("version must be \"STSv1\", found {}{hint}", shown(value))
                });
            }
        }
        Some(Known::Mode) => {
            seen.mode_line = true;
            match Mode::from_value(value) {
                Some(mode) => seen.mode = Some(mode),
                None if value == "report" => {
                    line.report(diags, PolicyProblem::ModeReport, start, || {
                        "mode \"report\" is from drafts of RFC 8461; the RFC calls it \"testing\""
                            .into()
                    })
                }
                None => {
                    let hint = match Mode::from_value(&value.to_ascii_lowercase()) {
                        Some(m) => format!(" (mode is case-sensitive: write \"{}\")", m.as_str()),
                        None => String::new(),
                    };
                    line.report(diags, PolicyProblem::ModeInvalid, start, || {
                        format!(
                            "mode must be \"enforce\", \"testing\" or \"none\", found {}{hint}",
                            shown(value)
                        )
                    });
                }
            }
        }
        Some(Known::MaxAge) => {
            seen.max_age_line = true;
            scan_max_age(line, start, value, seen, diags);
        }
        Some(Known::Mx) => {
            seen.mx_lines += 1;
            match MxPattern::check(value) {
                Ok(()) => {
                    // Lint only: a strict parse keeps duplicates without comment.
                    if diags.wants(Severity::Warning)
                        && !seen
                            .mx_seen
                            .get_or_insert_with(HashSet::new)
                            .insert(value.to_ascii_lowercase())
                    {
                        line.report(diags, PolicyProblem::DuplicateMx, start, || {
                            format!("mx {} is listed twice", shown(value))
                        });
                    }
                    // RFC 8461 §4.1 matches MX host names; an address is no host name an MX
                    // record gives (RFC 5321 §5.1), so this pattern can match nothing.
                    if diags.wants(Severity::Warning) && is_ip_address(value) {
                        line.report(diags, PolicyProblem::MxAddress, start, || {
                            format!(
                                "mx {} is an IP address, not a host name: MX records name hosts, so it matches no MX (RFC 8461 §4.1); list the MX host's name",
                                shown(value)
                            )
                        });
                    }
                    seen.mx_spans.push(seen.span(value));
                    if seen.keep_strings {
                        seen.mx
                            .push(MxPattern::parse(value).expect("checked above"));
                    }
                }
                Err(p) => line.report(diags, PolicyProblem::MxInvalid, start + p.at, || {
                    if is_address_literal(value) {
                        // RFC 8461 §3.2: sts-policy-mx-value is ["*."] Domain; an address
                        // literal (RFC 5321 §4.1.3) is no Domain and matches no MX host (§4.1).
                        return format!(
                            "mx {} is an address literal: mx values are host names (\"mx1.example.com\") or \"*.\" and a domain",
                            shown(value)
                        );
                    }
                    format!(
                        "mx must be a host name or \"*.\" and a domain: {}",
                        p.reason
                    )
                }),
            }
        }
        None => {
            line.report(diags, PolicyProblem::UnknownKey, 0, || {
                let hint = match near_miss(key) {
                    Some(k) => format!("; did you mean \"{k}\"? (keys are case-sensitive)"),
                    None => " and ignored by senders".to_string(),
                };
                format!("unknown key {}{hint}", shown(key))
            });
            if value.is_empty() {
                line.report(diags, PolicyProblem::ExtensionValue, start, || {
                    format!("{key} needs a value")
                });
            } else if let Some(bad) = check_ext_value(value) {
                line.report(diags, PolicyProblem::ExtensionValue, start + bad, || {
                    "values may not hold control characters or tabs".into()
                });
            } else {
                seen.add_extension(key, value);
            }
        }
    }
}

fn scan_max_age(
    line: &Line,
    start: usize,
    value: &str,
    seen: &mut Seen<'_>,
    diags: &mut Diagnostics,
) {
    // §3.2: sts-policy-max-age-value = 1*10(DIGIT) — no sign, no separator, no exponent.
    if value.is_empty() || !value.bytes().all(|c| c.is_ascii_digit()) {
        line.report(diags, PolicyProblem::MaxAgeInvalid, start, || {
            format!("max_age must be 1-10 digits, found {}", shown(value))
        });
        return;
    }
    if value.len() > 10 {
        line.report(diags, PolicyProblem::MaxAgeInvalid, start + 10, || {
            format!("max_age must be 1-10 digits, found {} digits", value.len())
        });
        return;
    }
    let n: u64 = value.bytes().fold(0, |n, c| n * 10 + u64::from(c - b'0'));
    // §3.2: "maximum value of 31557600".
    if n > u64::from(MAX_AGE_LIMIT) {
        line.report(diags, PolicyProblem::MaxAgeTooLarge, start, || {
            format!("max_age is at most {MAX_AGE_LIMIT} (about a year), found {n}")
        });
        return;
    }
    let n = n as u32;
    if n < MAX_AGE_ADVISED {
        // §3.2: "it is expected that this value typically be in the range of weeks or greater".
        line.report(diags, PolicyProblem::MaxAgeShort, start, || {
            format!("max_age {n} is under one day; RFC 8461 expects weeks or more (e.g. 604800)")
        });
    }
    seen.max_age = Some(n);
}

fn finish(seen: Seen<'_>, diags: &mut Diagnostics) -> Option<(Policy, Spans)> {
    let missing = |problem, what: &str| {
        Diagnostic::new(problem, format!("the policy has no \"{what}\" line"), 1, 1)
    };
    if !seen.version {
        diags.push(missing(PolicyProblem::VersionMissing, "version: STSv1"));
    }
    if !seen.mode_line {
        diags.push(missing(PolicyProblem::ModeMissing, "mode"));
    }
    if !seen.max_age_line {
        diags.push(missing(PolicyProblem::MaxAgeMissing, "max_age"));
    }
    // §3.2: "mx" is required at least once, except when mode is "none".
    if seen.mx_lines == 0 && matches!(seen.mode, Some(Mode::Enforce | Mode::Testing)) {
        let mode = seen.mode.map_or("", Mode::as_str);
        diags.push(Diagnostic::new(
            PolicyProblem::MxMissing,
            format!("mode {mode} requires at least one \"mx\" line"),
            1,
            1,
        ));
    }
    if diags.has_error() {
        return None;
    }
    let spans = Spans {
        mx: seen.mx_spans,
        extensions: seen.extension_spans,
    };
    let policy = Policy {
        mode: seen.mode?,
        max_age: seen.max_age?,
        mx: seen.mx,
        extensions: seen.extensions,
    };
    Some((policy, spans))
}

fn lint_str(text: &str, mut diags: Diagnostics) -> Lint {
    let policy = scan(text, &mut diags);
    Lint {
        policy,
        diagnostics: diags.finish(),
    }
}

/// Parses a policy and describes it by positions in `text`, for hosts that rebuild the object
/// by slicing their own copy of the text (the wasm bindings: no strings cross back). The layout
/// is `[mode (0 enforce, 1 testing, 2 none), max_age, mx count, extension count]`, then a
/// `[start, end)` pair per mx value, then `[key start, key end, value start, value end]` per
/// extension, in UTF-16 code units (JavaScript string indices). The end of an mx value has
/// [`LAYOUT_UPPERCASE`] added when the value holds an upper-case letter: the policy's pattern is
/// that text in lower case (RFC 8461 §4.1).
pub fn parse_policy_layout(text: &str) -> Result<Vec<u32>, Error> {
    let mut out = Vec::new();
    layout_into(text, &mut out)?;
    Ok(out)
}

/// Added to the end offset of an mx value that must be lower-cased (see [`parse_policy_layout`]).
/// Offsets stay below it: JavaScript strings are shorter than 2^30 code units.
pub const LAYOUT_UPPERCASE: u32 = 1 << 31;

/// [`parse_policy_bytes_layout`] appended to `out`: the wasm bindings' fast lane, with no
/// allocation for the layout once `out` has grown. On an error `out` holds nothing useful.
pub fn parse_policy_bytes_layout_into(bytes: &[u8], out: &mut Vec<u32>) -> Result<(), Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => layout_into(text, out),
        Err(e) => Err(PolicyError::Invalid(encoding_diagnostic(bytes, e.valid_up_to())).into()),
    }
}

fn layout_into(text: &str, out: &mut Vec<u32>) -> Result<(), Error> {
    let mut diags = Diagnostics::strict();
    let Some((policy, spans)) = scan_with_spans(text, &mut diags, false) else {
        return Err(strict_error(diags));
    };
    out.reserve(4 + spans.mx.len() * 2 + spans.extensions.len() * 4);
    out.push(match policy.mode {
        Mode::Enforce => 0,
        Mode::Testing => 1,
        Mode::None => 2,
    });
    out.push(policy.max_age);
    out.push(spans.mx.len() as u32);
    out.push(spans.extensions.len() as u32);
    let units = Utf16Offsets::new(text);
    for &[start, end] in &spans.mx {
        let value = &text[start..end];
        // RFC 8461 §4.1: matching is case-insensitive; patterns are given in lower case.
        // A fold without an early exit: the loop is cheaper without the branch per byte.
        let upper = value.bytes().fold(false, |u, b| u | b.is_ascii_uppercase());
        out.push(units.at(start));
        out.push(units.at(end) | if upper { LAYOUT_UPPERCASE } else { 0 });
    }
    for s in spans.extensions.iter().flatten() {
        out.push(units.at(*s));
    }
    Ok(())
}

/// Byte offsets to UTF-16 offsets. ASCII text (nearly every policy) maps one to one.
struct Utf16Offsets {
    /// For non-ASCII text: the UTF-16 offset of every byte offset that starts a character.
    table: Option<Vec<u32>>,
}

impl Utf16Offsets {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            return Utf16Offsets { table: None };
        }
        let mut table = vec![0u32; text.len() + 1];
        let mut units = 0u32;
        for (i, c) in text.char_indices() {
            table[i] = units;
            units += c.len_utf16() as u32;
        }
        table[text.len()] = units;
        Utf16Offsets { table: Some(table) }
    }

    fn at(&self, byte: usize) -> u32 {
        self.table.as_ref().map_or(byte as u32, |t| t[byte])
    }
}

/// [`parse_policy_layout`] for bytes, which must be UTF-8; offsets index the decoded text.
pub fn parse_policy_bytes_layout(bytes: &[u8]) -> Result<Vec<u32>, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_policy_layout(text),
        Err(e) => Err(PolicyError::Invalid(encoding_diagnostic(bytes, e.valid_up_to())).into()),
    }
}

fn strict_error(diags: Diagnostics) -> Error {
    match diags.first_error {
        Some(d) => PolicyError::Invalid(d).into(),
        None => PolicyError::Invalid(Diagnostic::new(
            PolicyProblem::Empty,
            "no policy".into(),
            1,
            1,
        ))
        .into(),
    }
}

/// Parses a policy under §3.2; the error names the first problem with its line and column.
pub fn parse_policy(text: &str) -> Result<Policy, Error> {
    let mut diags = Diagnostics::strict();
    let policy = scan(text, &mut diags);
    match (policy, diags.first_error) {
        (Some(p), None) => Ok(p),
        (_, Some(d)) => Err(PolicyError::Invalid(d).into()),
        (None, None) => Err(PolicyError::Invalid(Diagnostic::new(
            PolicyProblem::Empty,
            "no policy".into(),
            1,
            1,
        ))
        .into()),
    }
}

/// The diagnostic for bytes that are not UTF-8, at the line and column of the first bad byte.
fn encoding_diagnostic(bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    // Safe: the prefix up to `valid_up_to` is valid UTF-8.
    let prefix = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or("");
    let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let line = prefix.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = prefix[line_start..].chars().count() + 1;
    Diagnostic::new(
        PolicyProblem::Encoding,
        format!(
            "the policy must be UTF-8 text, found byte 0x{:02x}",
            bytes[valid_up_to]
        ),
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Parses policy bytes (as fetched): they must be UTF-8, then as [`parse_policy`].
pub fn parse_policy_bytes(bytes: &[u8]) -> Result<Policy, Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_policy(text),
        Err(e) => Err(PolicyError::Invalid(encoding_diagnostic(bytes, e.valid_up_to())).into()),
    }
}

/// Lint mode: every problem, errors and warnings, in order.
pub fn lint_policy(text: &str) -> Lint {
    lint_str(text, Diagnostics::default())
}

/// Lint mode for bytes: a UTF-8 problem is reported, then the text is linted as decoded with
/// replacement characters so that the other problems are found too.
pub fn lint_policy_bytes(bytes: &[u8]) -> Lint {
    match std::str::from_utf8(bytes) {
        Ok(text) => lint_policy(text),
        Err(e) => {
            let mut diags = Diagnostics::default();
            diags.push(encoding_diagnostic(bytes, e.valid_up_to()));
            let mut lint = lint_str(&String::from_utf8_lossy(bytes), diags);
            lint.policy = None;
            lint
        }
    }
}

/// `192.0.2.1` (or `*.0.2.1`'s domain part): an IPv4 address in the dotted form a domain check
/// lets through, since its labels are digits.
fn is_ip_address(value: &str) -> bool {
    let host = value.strip_prefix("*.").unwrap_or(value);
    host.trim_end_matches('.')
        .parse::<std::net::Ipv4Addr>()
        .is_ok()
}

/// `[192.0.2.1]`, `[IPv6:2001:db8::1]`: an RFC 5321 §4.1.3 address literal, or a bare IPv6 address.
fn is_address_literal(value: &str) -> bool {
    (value.starts_with('[') && value.ends_with(']')) || value.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::line_end;

    #[test]
    fn unknown_keys_close_to_a_known_one_get_a_hint() {
        // RFC 8461 §3.2: keys are case-sensitive and unknown keys are ignored, so `Mode: enforce`
        // leaves the policy without a mode; the hint names the key meant.
        let message = |key: &str| {
            let text =
                format!("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n{key}: x\n");
            let l = super::lint_policy(&text);
            let d = l
                .diagnostics
                .iter()
                .find(|d| d.code == "policy-unknown-key");
            d.map(|d| d.message.clone()).unwrap_or_default()
        };
        // (key, the known key hinted, or None)
        let cases = [
            ("Mode", Some("mode")),
            ("MX", Some("mx")),
            ("max-age", Some("max_age")),
            ("Max_Age", Some("max_age")),
            ("maxage", Some("max_age")),
            ("VERSION", Some("version")),
            ("m-x", Some("mx")),
            ("modes", None),
            ("zzz", None),
            ("max__age_x", None),
        ];
        for (key, hint) in cases {
            let m = message(key);
            match hint {
                Some(k) => assert!(
                    m.ends_with(&format!("did you mean \"{k}\"? (keys are case-sensitive)")),
                    "{key}: {m}"
                ),
                None => assert!(m.ends_with("and ignored by senders"), "{key}: {m}"),
            }
        }
    }

    #[test]
    fn a_value_of_only_whitespace_is_an_empty_value() {
        // §3.2: field-delim = ":" *WSP, so the blanks after the colon are the delimiter, not
        // trailing whitespace, and the value is empty.
        for key in ["mode", "max_age", "x-note"] {
            let text = format!(
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n{key}: \t \n"
            );
            let l = super::lint_policy(&text);
            let on_5: Vec<&str> = l
                .diagnostics
                .iter()
                .filter(|d| d.line == 5)
                .map(|d| d.code)
                .collect();
            let want: &[&str] = match key {
                "x-note" => &["policy-unknown-key", "policy-extension-invalid"],
                _ => &["policy-duplicate-key"],
            };
            assert_eq!(on_5, want, "{key}");
        }
        let l = super::lint_policy("version: STSv1\nmode:  \t\nmx: a.example\nmax_age: 86400\n");
        let codes: Vec<&str> = l.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["policy-mode-invalid"], "{:?}", l.diagnostics);
    }

    #[test]
    fn addresses_as_mx_are_pointed_out() {
        let lint = |mx: &str| {
            let text = format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n");
            let l = super::lint_policy(&text);
            let d: Vec<(&str, String)> = l
                .diagnostics
                .iter()
                .map(|d| (d.code, format!("{:?}", d.severity)))
                .collect();
            (l.policy.is_some(), d)
        };
        // (mx value, policy still valid, code, severity, reason)
        let cases = [
            (
                "192.0.2.25",
                true,
                "policy-mx-address",
                "Warning",
                "a dotted quad is a valid Domain, but no MX host name",
            ),
            (
                "*.192.0.2.25",
                true,
                "policy-mx-address",
                "Warning",
                "a wildcard over an address",
            ),
            (
                "[192.0.2.25]",
                false,
                "policy-mx-invalid",
                "Error",
                "an address literal is no Domain",
            ),
            (
                "2001:db8::25",
                false,
                "policy-mx-invalid",
                "Error",
                "an IPv6 address is no Domain",
            ),
            ("mx1.example.com", true, "", "", "a host name"),
        ];
        for (mx, valid, code, severity, why) in cases {
            let (ok, d) = lint(mx);
            assert_eq!(ok, valid, "{why}: {d:?}");
            let first = d.first().map(|(c, s)| (*c, s.as_str())).unwrap_or(("", ""));
            assert_eq!(first, (code, severity), "{why}");
        }
        // Only a bracketed value or a bare IPv6 address is called an address literal; other bad
        // values are told what a pattern is. mx problems cite §4.1 beside §3.2.
        for (mx, literal) in [
            ("[192.0.2.25]", true),
            ("[IPv6:2001:db8::1]", true),
            ("2001:db8::25", true),
            ("[mx.example.com", false),
            ("mx.example.com]", false),
            ("mx_1.example.com", false),
        ] {
            let text = format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n");
            let l = super::lint_policy(&text);
            let d = &l.diagnostics[0];
            assert_eq!(d.code, "policy-mx-invalid", "{mx}");
            assert_eq!(
                d.message.contains("address literal"),
                literal,
                "{mx}: {}",
                d.message
            );
            assert_eq!(d.rfc, "RFC 8461 §3.2, §4.1", "{mx}");
        }
        let l = super::lint_policy("version: STSv1\nmode: enforce\nmx: mx.example.com\nmx: mx.example.com\nmax_age: 86400\n");
        assert_eq!(
            (l.diagnostics[0].code, l.diagnostics[0].rfc),
            ("policy-duplicate-mx", "RFC 8461 §3.2, §4.1")
        );
        let l = super::lint_policy("version: STSv1\nmode: enforce\nmx: mx.example.com\n");
        assert_eq!(
            (l.diagnostics[0].code, l.diagnostics[0].rfc),
            ("policy-max-age-missing", "RFC 8461 §3.2")
        );
    }

    #[test]
    fn line_ends() {
        // (text, end, first CR) — every position of the LF and CR against the 8-byte steps
        let long = "0123456789abcdefghij";
        for at in 0..=long.len() {
            let (head, tail) = long.split_at(at);
            assert_eq!(
                line_end(format!("{head}\n{tail}").as_bytes()),
                (at, None),
                "LF at {at}"
            );
            assert_eq!(
                line_end(format!("{head}\r\n{tail}").as_bytes()),
                (at + 1, Some(at)),
                "CRLF at {at}"
            );
            assert_eq!(
                line_end(format!("{head}\r{tail}").as_bytes()),
                (long.len() + 1, Some(at)),
                "bare CR at {at}"
            );
            assert_eq!(line_end(head.as_bytes()), (at, None), "no LF, {at} bytes");
        }
        assert_eq!(
            line_end("é\u{1f600}x\r\r\ny".as_bytes()),
            (9, Some(7)),
            "the first CR of two"
        );
    }

    #[test]
    fn line_end_agrees_with_a_byte_by_byte_scan() {
        // The word-at-a-time search must give what the plain loop gives for any bytes, those
        // one bit away from LF or CR (0x0b, 0x0c, 0x0e, 0x8a, 0x8d) and borrows (0x00, 0x01)
        // among them: a false match in the word test would move the end or lose the first CR.
        fn plain(b: &[u8]) -> (usize, Option<usize>) {
            let end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
            (end, b[..end].iter().position(|&c| c == b'\r'))
        }
        const BYTES: [u8; 14] = [
            b'\n', b'\r', 0x0b, 0x0c, 0x0e, 0x09, 0x8a, 0x8d, 0x00, 0x01, 0x80, 0xff, b'a', b'x',
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // xorshift64: a fixed sequence, so a failure is the same on every run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            // Mostly other bytes, so that LF and CR fall anywhere in a word, or in none.
            let b: Vec<u8> = (0..len)
                .map(|_| match next() % 16 {
                    0 => b'\n',
                    1 => b'\r',
                    r => BYTES[2 + (r as usize % 12)],
                })
                .collect();
            assert_eq!(line_end(&b), plain(&b), "{b:02x?}");
        }
    }
}
