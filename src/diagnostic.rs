//! Diagnostics: one problem found in a record or policy, said for a person.
//!
//! Parsers never stop at the first problem internally: they collect [`Diagnostic`]s, and the strict
//! entry points (`parse_*`) turn the first error into an [`crate::Error`]. Lint mode returns them
//! all. Each problem kind is a variant of a per-concern enum implementing [`Problem`], which gives
//! its stable code, its severity and the RFC section that states the rule.

use serde::Serialize;

/// How bad a problem is. Errors make the input unusable; warnings are legal but unwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A kind of problem: its stable code, severity and the rule it breaks.
pub trait Problem: Copy {
    /// Stable kebab-case code, unique across the crate.
    fn code(self) -> &'static str;
    fn severity(self) -> Severity;
    /// The RFC section stating the rule, e.g. `RFC 8461 §3.2`.
    fn rfc(self) -> &'static str;
}

/// One problem at one place. `line` and `column` are 1-based; the column counts characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub line: u32,
    pub column: u32,
    pub rfc: &'static str,
}

impl Diagnostic {
    pub fn new(problem: impl Problem, message: String, line: u32, column: u32) -> Self {
        Diagnostic {
            severity: problem.severity(),
            code: problem.code(),
            message,
            line,
            column,
            rfc: problem.rfc(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Lint output is bounded: a hostile input of 100k bad lines yields this many diagnostics and a
/// final note, not 100k objects.
pub const MAX_DIAGNOSTICS: usize = 200;

/// Collects diagnostics up to [`MAX_DIAGNOSTICS`], and the first error even past the cap.
#[derive(Default, Debug)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
    pub first_error: Option<Diagnostic>,
    pub dropped: usize,
    /// A strict parse wants only the first error: no warnings, and no more after it.
    strict: bool,
}

impl Diagnostics {
    /// For `parse_*`: only the first error matters.
    pub fn strict() -> Self {
        Diagnostics {
            strict: true,
            ..Self::default()
        }
    }

    /// Whether a problem of this severity would be kept (so its message is worth making).
    pub fn wants(&self, severity: Severity) -> bool {
        !self.strict || (severity == Severity::Error && self.first_error.is_none())
    }

    /// A strict parse has what it needs.
    pub fn done(&self) -> bool {
        self.strict && self.first_error.is_some()
    }

    /// Whether [`Diagnostics::push`] would list a problem of this severity. Past the cap a
    /// caller counts it with [`Diagnostics::skip`] instead of making it: its column costs a walk
    /// over the text, which a problem per byte would make quadratic.
    pub fn keeps(&self, severity: Severity) -> bool {
        self.list.len() < MAX_DIAGNOSTICS
            || (severity == Severity::Error && self.first_error.is_none())
    }

    /// Counts a problem past the cap without making it (see [`Diagnostics::keeps`]).
    pub fn skip(&mut self) {
        self.dropped += 1;
    }

    pub fn push(&mut self, d: Diagnostic) {
        let first_error = d.is_error() && self.first_error.is_none();
        if first_error {
            self.first_error = Some(d.clone());
        }
        // The first error is listed even past the cap: lint has an error exactly when the strict
        // parse fails, however many warnings came before it (found by fuzz/checks.rs `policy`:
        // 247 blank lines, then a bad line).
        if self.list.len() < MAX_DIAGNOSTICS || first_error {
            self.list.push(d);
        } else {
            self.dropped += 1;
        }
    }

    pub fn has_error(&self) -> bool {
        self.first_error.is_some()
    }

    /// The final list, with a note when some were dropped.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        if self.dropped > 0 {
            self.list.push(Diagnostic {
                severity: Severity::Warning,
                code: "lint-truncated",
                message: format!(
                    "{} more problems not listed (at most {} are reported)",
                    self.dropped, MAX_DIAGNOSTICS
                ),
                line: 0,
                column: 0,
                rfc: "",
            });
        }
        self.list
    }
}

/// 1-based character column of byte offset `at` within `line`.
pub fn column_of(line: &str, at: usize) -> u32 {
    let at = at.min(line.len());
    let mut end = at;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    (line[..end].chars().count() + 1) as u32
}

/// Shows a found value in a message: quoted, escaped, and shortened when long.
pub fn shown(value: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::from("\"");
    for (n, c) in value.chars().enumerate() {
        if n == MAX {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(severity: Severity, n: u32) -> Diagnostic {
        let code = match severity {
            Severity::Error => "planted-error",
            Severity::Warning => "planted-warning",
        };
        Diagnostic {
            severity,
            code,
            message: format!("problem {n}"),
            line: n,
            column: 1,
            rfc: "",
        }
    }

    /// `parse_*` asks for no warning and nothing after the first error; lint asks for everything.
    /// The parsers skip making messages on `wants` and stop on `done`, so a collector that said
    /// otherwise would cost time (strict) or lose problems (lint), never change a strict result.
    #[test]
    fn a_strict_collector_wants_the_first_error_only_and_lint_wants_all() {
        let mut strict = Diagnostics::strict();
        assert!(!strict.wants(Severity::Warning), "strict: no warnings");
        assert!(strict.wants(Severity::Error), "strict: the first error");
        assert!(!strict.done());
        strict.push(at(Severity::Error, 1));
        assert!(strict.done(), "strict: done at the first error");
        assert!(!strict.wants(Severity::Error), "strict: no second error");
        assert!(!strict.wants(Severity::Warning));

        let mut lint = Diagnostics::default();
        assert!(lint.wants(Severity::Warning) && lint.wants(Severity::Error));
        lint.push(at(Severity::Error, 1));
        assert!(!lint.done(), "lint goes on after an error");
        assert!(lint.wants(Severity::Warning) && lint.wants(Severity::Error));
    }

    /// Past [`MAX_DIAGNOSTICS`] only the first error is still listed (lint has an error exactly
    /// when the strict parse fails); `keeps` says so before the message is made.
    #[test]
    fn at_the_cap_only_the_first_error_is_kept() {
        let mut lint = Diagnostics::default();
        for n in 0..MAX_DIAGNOSTICS as u32 {
            assert!(lint.keeps(Severity::Warning));
            lint.push(at(Severity::Warning, n));
        }
        assert!(!lint.keeps(Severity::Warning), "a warning past the cap");
        assert!(lint.keeps(Severity::Error), "the first error past the cap");
        lint.push(at(Severity::Error, 999));
        assert!(!lint.keeps(Severity::Error), "a second error past the cap");
        lint.skip();
        let list = lint.finish();
        assert_eq!(list.len(), MAX_DIAGNOSTICS + 2);
        assert_eq!(list[MAX_DIAGNOSTICS].line, 999);
        assert_eq!(list[MAX_DIAGNOSTICS + 1].code, "lint-truncated");
    }

    /// A byte offset inside a multi-byte character counts as that character's column.
    #[test]
    fn a_column_inside_a_character_is_the_character_s_own() {
        // "é" is bytes 1..3, "€" bytes 4..7.
        let line = "aé €b";
        assert_eq!(column_of(line, 0), 1);
        assert_eq!(column_of(line, 1), 2);
        assert_eq!(column_of(line, 2), 2, "inside é");
        assert_eq!(column_of(line, 3), 3);
        assert_eq!(column_of(line, 5), 4, "inside €");
        assert_eq!(column_of(line, 6), 4, "inside €");
        assert_eq!(column_of(line, 7), 5);
        assert_eq!(
            column_of(line, 99),
            6,
            "past the end: after the last character"
        );
    }
}
