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

/// Collects bytes into replies.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    lines: Vec<String>,
    code: Option<u16>,
}

impl ReplyReader {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet part of a reply.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, Malformed> {
        loop {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE {
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
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            // Interop: accept a bare LF as well as CRLF at the end of a reply line.
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let (code, last, text) = parse_line(line)?;
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
        assert!(
            read(&b"250-x\r\n".repeat(MAX_LINES + 1)).is_err(),
            "endless reply"
        );
    }
}
