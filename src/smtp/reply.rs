//! SMTP replies (RFC 5321 §4.2): `Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//! Reply-code [ SP textstring ] CRLF`. Multi-line replies repeat the code with "-" until the last.

use std::fmt;

/// Longest reply line accepted. RFC 5321 §4.5.3.1.5 sets 512 octets; real servers exceed it in
/// banners, so the bound is generous but finite.
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply (a hostile server must not make the client grow without end).
pub const MAX_LINES: usize = 256;

/// A complete reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of each line, without the code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// 4yz: transient negative completion (RFC 5321 §4.2.1).
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The first line's text, for messages.
    pub fn text(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, crate::diagnostic::shown(self.text()))
    }
}

/// Why bytes from the server are not a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Collects bytes into replies. Linear in the bytes however they arrive: each byte is searched
/// for a line end once (a line trickled a byte per read is not rescanned from its start), and the
/// lines taken are cut off the buffer in bulk, not one by one (cutting each line off the
/// front moved the rest of the buffer every time: many lines in one read were quadratic; both
/// found by fuzz/linear-time.sh).
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    /// `buf[..start]` has been taken as lines.
    start: usize,
    /// `buf[start..start + scanned]` holds no line feed.
    scanned: usize,
    lines: Vec<String>,
    code: Option<u16>,
}

impl ReplyReader {
    pub fn push(&mut self, data: &[u8]) {
        // Cut the lines taken when they are at least half the buffer: what is moved is never
        // more than what was taken since the last cut.
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet part of a reply.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, Malformed> {
        loop {
            let rest = &self.buf[self.start..];
            let found = rest[self.scanned..].iter().position(|&b| b == b'\n');
            let Some(end) = found.map(|i| i + self.scanned) else {
                self.scanned = rest.len();
                if rest.len() > MAX_LINE {
                    return Err(Malformed(format!(
                        "a reply line is longer than {MAX_LINE} bytes"
                    )));
                }
                return Ok(None);
            };
            if end > MAX_LINE {
                return Err(Malformed(format!(
                    "a reply line is longer than {MAX_LINE} bytes"
                )));
            }
            let line = &rest[..end];
            // Interop: accept a bare LF as well as CRLF at the end of a reply line.
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let parsed = parse_line(line);
            self.start += end + 1;
            self.scanned = 0;
            let (code, last, text) = parsed?;
            match self.code {
                Some(c) if c != code => {
                    return Err(Malformed(format!(
                        "a multi-line reply changed its code from {c} to {code}"
                    )))
                }
                _ => self.code = Some(code),
            }
            if self.lines.len() == MAX_LINES {
                return Err(Malformed(format!(
                    "a reply has more than {MAX_LINES} lines"
                )));
            }
            self.lines.push(text);
            if last {
                self.code = None;
                return Ok(Some(Reply {
                    code,
                    lines: std::mem::take(&mut self.lines),
                }));
            }
        }
    }
}

fn parse_line(line: &[u8]) -> Result<(u16, bool, String), Malformed> {
    let bad = || {
        Malformed(format!(
            "expected a reply line \"NNN text\", found {}",
            crate::diagnostic::shown(&String::from_utf8_lossy(line))
        ))
    };
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // RFC 5321 §4.2: the first digit is 2-5, the second 0-5.
    if !(b'2'..=b'5').contains(&line[0]) || !(b'0'..=b'5').contains(&line[1]) {
        return Err(bad());
    }
    let code = u16::from(line[0] - b'0') * 100
        + u16::from(line[1] - b'0') * 10
        + u16::from(line[2] - b'0');
    let (last, text) = match line.get(3) {
        None => (true, &line[3..]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return Err(bad()),
    };
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_exactly_max_line_bytes_is_read_and_one_more_is_malformed() {
        // Interop: RFC 5321 §4.5.3.1.5 says 512 octets; real servers send longer lines, so the
        // bound is MAX_LINE bytes before the line feed, counted exactly.
        let line = |len: usize| {
            let mut l = b"250 ".to_vec();
            l.resize(len - 1, b'x');
            l.push(b'\r');
            l
        };
        for (len, ok) in [(MAX_LINE, true), (MAX_LINE + 1, false)] {
            // Complete: the line feed is there.
            let mut r = ReplyReader::default();
            r.push(&line(len));
            r.push(b"\n");
            assert_eq!(r.next_reply().is_ok_and(|x| x.is_some()), ok, "{len}");
            // Incomplete: no line feed yet; at the bound it waits, past it it gives up.
            let mut r = ReplyReader::default();
            r.push(&line(len));
            match r.next_reply() {
                Ok(None) => assert!(ok, "{len} bytes without a line feed must fail"),
                Err(Malformed(m)) => {
                    assert!(!ok, "{len}: {m}");
                    assert!(m.contains("longer than 4096 bytes"));
                }
                Ok(Some(_)) => panic!("no line feed, no reply"),
            }
        }
    }

    #[test]
    fn reply_classes_and_display() {
        // RFC 5321 §4.2.1: 2yz and 3yz positive, 4yz transient negative, 5yz permanent negative.
        for (code, positive, transient) in [
            (220, true, false),
            (354, true, false),
            (399, true, false),
            (421, false, true),
            (499, false, true),
            (550, false, false),
            (199, false, false),
        ] {
            let r = Reply {
                code,
                lines: vec!["text".into()],
            };
            assert_eq!(
                (r.is_positive(), r.is_transient()),
                (positive, transient),
                "{code}"
            );
        }
        let r = Reply {
            code: 451,
            lines: vec!["4.3.0 later".into(), "second".into()],
        };
        assert_eq!(
            r.to_string(),
            r#"451 "4.3.0 later""#,
            "the first line, quoted as messages show text"
        );
    }

    fn read(input: &[u8]) -> Result<Vec<Reply>, Malformed> {
        let mut r = ReplyReader::default();
        r.push(input);
        let mut out = Vec::new();
        while let Some(reply) = r.next_reply()? {
            out.push(reply);
        }
        Ok(out)
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn table() {
        // (input, replies as (code, line count), reason)
        let ok: &[(&[u8], &[(u16, usize)], &str)] = &[
            (b"220 mx.example ESMTP\r\n", &[(220, 1)], "one line"),
            (
                b"250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                &[(250, 3)],
                "multi-line",
            ),
            (b"220 ready\n", &[(220, 1)], "bare LF (interop)"),
            (b"250\r\n", &[(250, 1)], "code only"),
            (
                b"220 a\r\n250 b\r\n",
                &[(220, 1), (250, 1)],
                "two replies in one read",
            ),
            (b"250-a\r\n", &[], "incomplete multi-line"),
            (b"220 partial", &[], "no line end yet"),
        ];
        for (input, want, why) in ok {
            let got: Vec<(u16, usize)> = read(input)
                .unwrap()
                .iter()
                .map(|r| (r.code, r.lines.len()))
                .collect();
            assert_eq!(&got, want, "{why}");
        }
        let bad: &[(&[u8], &str)] = &[
            (b"HTTP/1.1 400 Bad\r\n", "not SMTP"),
            (b"2200 x\r\n", "four digits"),
            (b"650 x\r\n", "first digit out of range"),
            (b"290 x\r\n", "second digit out of range"),
            (b"250-a\r\n251 b\r\n", "code changes mid-reply"),
            (b"22\r\n", "too short"),
        ];
        for (input, why) in bad {
            assert!(read(input).is_err(), "{why}");
        }
        assert!(read(&vec![b'2'; MAX_LINE + 10]).is_err(), "endless line");
        let mut r = ReplyReader::default();
        for &b in vec![b'2'; MAX_LINE + 1].iter() {
            assert_eq!(r.next_reply(), Ok(None));
            r.push(&[b]);
        }
        assert!(r.next_reply().is_err(), "endless line, a byte per read");
        assert!(
            read(&b"250-x\r\n".repeat(MAX_LINES + 1)).is_err(),
            "endless reply"
        );
    }

    /// The shapes fuzz/linear-time.sh found quadratic, read as they were before: a line a byte
    /// per read (each byte once), and many replies in one read taken one by one; whatever the
    /// split, the same replies and the same pending bytes.
    #[test]
    fn any_split_gives_the_same_replies() {
        let input = b"220-mx.example.com\r\n220 ESMTP\r\n250 ok\n".repeat(50);
        let whole = read(&input).unwrap();
        assert_eq!(whole.len(), 100);
        for size in [1, 2, 7, 64, input.len()] {
            let mut r = ReplyReader::default();
            let mut got = Vec::new();
            for chunk in input.chunks(size) {
                r.push(chunk);
                while let Some(reply) = r.next_reply().unwrap() {
                    got.push(reply);
                }
                assert!(r.pending() < 20, "a partial line at most: {}", r.pending());
            }
            assert_eq!(got, whole, "reads of {size} bytes");
            assert_eq!(r.pending(), 0);
        }
        let mut r = ReplyReader::default();
        r.push(b"250 a\r\n250 b\r\n25");
        assert_eq!(
            r.next_reply().unwrap().map(|r| r.lines),
            Some(vec!["a".to_string()])
        );
        assert_eq!(r.pending(), 9);
        r.push(b"0 c\r\n");
        assert_eq!(r.pending(), 14);
        assert_eq!(
            r.next_reply().unwrap().map(|r| r.lines),
            Some(vec!["b".to_string()])
        );
        assert_eq!(
            r.next_reply().unwrap().map(|r| r.lines),
            Some(vec!["c".to_string()])
        );
        assert_eq!(r.pending(), 0);
    }
}
