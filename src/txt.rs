//! TXT record selection shared by `_mta-sts` (RFC 8461 §3.1) and `_smtp._tls` (RFC 8460 §3): the
//! strings of one record are concatenated without separator, records that do not begin with the
//! version prefix are discarded, and exactly one must remain.

/// What remains after discarding the records without `prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selected {
    None,
    One(String),
    /// More than one record begins with the prefix: the count.
    Many(usize),
}

pub fn select_one<R, S>(records: &[R], prefix: &str) -> Selected
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    let mut found: Option<String> = None;
    let mut count = 0;
    for strings in records {
        // The strings of one record are concatenated without separator.
        let text: String = strings.as_ref().iter().map(|s| s.as_ref()).collect();
        if text.starts_with(prefix) {
            count += 1;
            found.get_or_insert(text);
        }
    }
    match found {
        None => Selected::None,
        Some(_) if count > 1 => Selected::Many(count),
        Some(text) => Selected::One(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_none_many() {
        let r = |v: &[&[&str]]| select_one(v, "v=X;");
        assert_eq!(
            r(&[&["v=X;", " a=1"], &["other"]]),
            Selected::One("v=X; a=1".into())
        );
        assert_eq!(r(&[&["nope"]]), Selected::None);
        assert_eq!(r(&[&["v=X;"], &["v=X;b"]]), Selected::Many(2));
        assert_eq!(
            r(&[&["v=", "X;"]]),
            Selected::One("v=X;".into()),
            "split across strings"
        );
    }
}
