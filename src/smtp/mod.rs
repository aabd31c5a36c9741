//! The SMTP client dialogue up to STARTTLS (RFC 5321 §3.1, §4.1.1.1; RFC 3207), sans-IO.
//!
//! The host owns the TCP socket: it writes what [`Step::Send`] asks, feeds received bytes to
//! [`StartTls::on_data`], and on [`Step::StartTls`] starts TLS on the same socket. After TLS the
//! caller says EHLO again (RFC 3207 §4.2: the client MUST discard knowledge from before TLS).

mod client;
mod reply;

pub use client::{ehlo_keywords, enhanced_code, Answer, Command, Meaning, SmtpClient};
pub use reply::{Reply, ReplyReader, MAX_LINE, MAX_LINES};

use crate::error::{Error, SmtpError};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The next thing the host must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes, then poll again.
    Send(Vec<u8>),
    /// Read from the socket and pass the bytes to `on_data` (or `on_close` at end of stream).
    Read,
    /// The server accepted STARTTLS: begin the TLS handshake now. `extensions` are the EHLO
    /// keywords from before TLS (for information only).
    StartTls { extensions: Vec<String> },
    /// The server does not offer STARTTLS (RFC 3207 §4: the keyword is absent from EHLO, or EHLO
    /// was refused and HELO accepted). The plaintext session is ready for MAIL FROM.
    NoStartTls { extensions: Vec<String> },
    /// The dialogue failed; the connection must be closed.
    Failed(Error),
}

/// Serialised as `{ step: "send", data }`, `{ step: "read" }`, `{ step: "starttls", extensions }`,
/// `{ step: "plain", extensions }` or `{ step: "failed", error }`.
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        match self {
            Step::Send(bytes) => {
                map.serialize_entry("step", "send")?;
                map.serialize_entry("data", &String::from_utf8_lossy(bytes))?;
            }
            Step::Read => map.serialize_entry("step", "read")?,
            Step::StartTls { extensions } => {
                map.serialize_entry("step", "starttls")?;
                map.serialize_entry("extensions", extensions)?;
            }
            Step::NoStartTls { extensions } => {
                map.serialize_entry("step", "plain")?;
                map.serialize_entry("extensions", extensions)?;
            }
            Step::Failed(e) => {
                map.serialize_entry("step", "failed")?;
                map.serialize_entry("error", e)?;
            }
        }
        map.end()
    }
}

#[derive(Debug)]
enum State {
    Greeting,
    SendEhlo,
    Ehlo,
    Helo,
    StartTlsSent,
    Done(Step),
}

/// The dialogue with one MX up to the TLS handshake.
#[derive(Debug)]
pub struct StartTls {
    helo_name: String,
    reader: ReplyReader,
    state: State,
    extensions: Vec<String>,
    /// The lines of the server's 220 greeting and of its 250 answer to EHLO (text after the code).
    greeting: Vec<String>,
    ehlo: Vec<String>,
    closed: bool,
    plaintext: bool,
}

impl StartTls {
    /// `helo_name`: the client's name for EHLO/HELO (RFC 5321 §4.1.1.1: a domain or address
    /// literal). Must not contain CR, LF or spaces (a line break would inject a command).
    pub fn new(helo_name: &str) -> Result<StartTls, Error> {
        if helo_name.is_empty() || helo_name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(SmtpError::BadHeloName {
                name: helo_name.to_string(),
            }
            .into());
        }
        Ok(StartTls {
            helo_name: helo_name.to_string(),
            reader: ReplyReader::default(),
            state: State::Greeting,
            extensions: Vec::new(),
            greeting: Vec::new(),
            ehlo: Vec::new(),
            closed: false,
            plaintext: false,
        })
    }

    /// The same dialogue without STARTTLS, for a plaintext retry after TLS failed with this
    /// server (RFC 8461 §5: testing and no policy deliver as opportunistic senders do; RFC 3207
    /// §4.1: "the client MAY ... proceed with delivery in the clear").
    pub fn plaintext(mut self) -> StartTls {
        self.plaintext = true;
        self
    }

    /// Whether the server's greeting has been received: an SMTP session has begun.
    pub fn greeted(&self) -> bool {
        !matches!(self.state, State::Greeting)
    }

    /// The lines of the server's greeting (RFC 5321 §4.2: the text after "220"), once read.
    pub fn greeting(&self) -> &[String] {
        &self.greeting
    }

    /// The lines of the server's 250 answer to EHLO (RFC 5321 §4.1.1.1: its name, then one
    /// extension per line), empty when EHLO was refused (HELO) or not answered yet. These are the
    /// capabilities before TLS: after STARTTLS a client forgets them (RFC 3207 §4.2).
    pub fn ehlo(&self) -> &[String] {
        &self.ehlo
    }

    pub fn on_data(&mut self, data: &[u8]) {
        self.reader.push(data);
    }

    pub fn on_close(&mut self) {
        self.closed = true;
    }

    pub fn poll(&mut self) -> Step {
        loop {
            if let State::Done(step) = &self.state {
                return step.clone();
            }
            if let State::SendEhlo = self.state {
                self.state = State::Ehlo;
                return Step::Send(format!("EHLO {}\r\n", self.helo_name).into_bytes());
            }
            let reply = match self.reader.next_reply() {
                Ok(Some(reply)) => reply,
                Ok(None) if self.closed => {
                    return self.fail(SmtpError::Closed {
                        during: self.phase(),
                    })
                }
                Ok(None) => return Step::Read,
                Err(e) => return self.fail(SmtpError::Protocol { detail: e.0 }),
            };
            if let Some(step) = self.on_reply(reply) {
                return step;
            }
        }
    }

    fn phase(&self) -> &'static str {
        match self.state {
            State::Greeting => "greeting",
            State::SendEhlo | State::Ehlo => "EHLO",
            State::Helo => "HELO",
            State::StartTlsSent | State::Done(_) => "STARTTLS",
        }
    }

    fn fail(&mut self, e: SmtpError) -> Step {
        let step = Step::Failed(e.into());
        self.state = State::Done(step.clone());
        step
    }

    fn done(&mut self, step: Step) -> Step {
        self.state = State::Done(step.clone());
        step
    }

    fn on_reply(&mut self, reply: Reply) -> Option<Step> {
        let phase = self.phase();
        let refused = |reply: Reply| SmtpError::Refused {
            during: phase,
            code: reply.code,
            text: reply.text().to_string(),
        };
        match self.state {
            // RFC 5321 §3.1: the session opens with a 220 greeting; 554 (or 4yz) refuses it.
            State::Greeting if reply.code == 220 => {
                self.greeting = reply.lines.clone();
                self.state = State::SendEhlo;
                None
            }
            State::Greeting => Some(self.fail(refused(reply))),
            State::Ehlo if reply.code == 250 => {
                self.ehlo = reply.lines.clone();
                // RFC 5321 §4.1.1.1: the first line is the server's name, then one keyword per line.
                self.extensions = reply
                    .lines
                    .iter()
                    .skip(1)
                    .map(|l| {
                        l.split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase()
                    })
                    .filter(|k| !k.is_empty())
                    .collect();
                if !self.plaintext && self.extensions.iter().any(|k| k == "STARTTLS") {
                    self.state = State::StartTlsSent;
                    Some(Step::Send(b"STARTTLS\r\n".to_vec()))
                } else {
                    Some(self.done(Step::NoStartTls {
                        extensions: self.extensions.clone(),
                    }))
                }
            }
            // RFC 5321 §4.1.4 / §3.2: a server that does not know EHLO answers 500/502; try HELO.
            State::Ehlo if matches!(reply.code, 500 | 502) => {
                self.state = State::Helo;
                Some(Step::Send(
                    format!("HELO {}\r\n", self.helo_name).into_bytes(),
                ))
            }
            State::Ehlo | State::Helo if reply.code != 250 => Some(self.fail(refused(reply))),
            State::Helo => Some(self.done(Step::NoStartTls {
                extensions: Vec::new(),
            })),
            // RFC 3207 §4: 220 means "ready to start TLS"; 454 "TLS not available".
            State::StartTlsSent if reply.code == 220 => {
                if self.reader.pending() > 0 {
                    // Bytes after the 220 and before TLS would be read as if protected by it
                    // (the STARTTLS command-injection attack, CVE-2011-0411 class).
                    return Some(self.fail(SmtpError::DataBeforeTls {
                        bytes: self.reader.pending(),
                    }));
                }
                Some(self.done(Step::StartTls {
                    extensions: self.extensions.clone(),
                }))
            }
            State::StartTlsSent => Some(self.fail(SmtpError::StartTlsRefused {
                code: reply.code,
                text: reply.text().to_string(),
            })),
            State::Ehlo | State::SendEhlo | State::Done(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the dialogue against a scripted server: each poll that reads gets the next chunk.
    fn run(server: &[&[u8]]) -> (Vec<String>, Step) {
        let mut c = StartTls::new("relay.example.org").unwrap();
        let mut sent = Vec::new();
        let mut chunks = server.iter();
        loop {
            match c.poll() {
                Step::Send(b) => sent.push(String::from_utf8(b).unwrap()),
                Step::Read => match chunks.next() {
                    Some(chunk) => c.on_data(chunk),
                    None => c.on_close(),
                },
                done => return (sent, done),
            }
        }
    }

    fn code(step: &Step) -> &'static str {
        match step {
            Step::Failed(e) => e.code(),
            Step::StartTls { .. } => "starttls",
            Step::NoStartTls { .. } => "plain",
            _ => "other",
        }
    }

    #[test]
    fn table() {
        // (server chunks, outcome, commands sent, reason)
        let cases: &[(&[&[u8]], &str, usize, &str)] = &[
            (
                &[
                    b"220 mx ESMTP\r\n",
                    b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                    b"220 go ahead\r\n",
                ],
                "starttls",
                2,
                "STARTTLS offered and accepted",
            ),
            (
                &[
                    b"220-mx\r\n220 ESMTP\r\n",
                    b"250-mx\r\n250 starttls\r\n",
                    b"220 ok\r\n",
                ],
                "starttls",
                2,
                "multi-line greeting, lowercase keyword",
            ),
            (
                &[b"220 mx\r\n", b"250-mx\r\n250 SIZE 100\r\n"],
                "plain",
                1,
                "no STARTTLS keyword",
            ),
            (
                &[b"220 mx\r\n", b"502 what\r\n", b"250 mx\r\n"],
                "plain",
                2,
                "EHLO refused, HELO accepted",
            ),
            (
                &[
                    b"220 mx\r\n",
                    b"250-mx\r\n250 STARTTLS\r\n",
                    b"454 TLS not available\r\n",
                ],
                "starttls-refused",
                2,
                "454 to STARTTLS",
            ),
            (
                &[b"554 no service\r\n"],
                "smtp-refused",
                0,
                "greeting refuses the session",
            ),
            (
                &[b"421 busy\r\n"],
                "smtp-refused",
                0,
                "transient greeting refusal",
            ),
            (
                &[b"220 mx\r\n", b"421 closing\r\n"],
                "smtp-refused",
                1,
                "EHLO answered 421",
            ),
            (&[b"220 mx\r\n"], "smtp-closed", 1, "closed after EHLO"),
            (&[], "smtp-closed", 0, "closed before the greeting"),
            (
                &[b"SSH-2.0-OpenSSH\r\n"],
                "smtp-protocol-error",
                0,
                "not an SMTP server",
            ),
            (
                &[
                    b"220 mx\r\n",
                    b"250-mx\r\n250 STARTTLS\r\n",
                    b"220 ok\r\n250 injected\r\n",
                ],
                "smtp-data-before-tls",
                2,
                "bytes after 220 before TLS",
            ),
            (
                &[
                    b"220 m",
                    b"x\r\n",
                    b"250-mx\r\n",
                    b"250 STARTTLS\r\n",
                    b"220 ok\r\n",
                ],
                "starttls",
                2,
                "replies split across reads",
            ),
        ];
        for (server, want, n_sent, why) in cases {
            let (sent, step) = run(server);
            assert_eq!(code(&step), *want, "{why}: {step:?}");
            assert_eq!(sent.len(), *n_sent, "{why}: {sent:?}");
        }
    }

    #[test]
    fn commands_and_transience() {
        let (sent, _) = run(&[b"220 mx\r\n", b"500 eh\r\n", b"250 mx\r\n"]);
        assert_eq!(
            sent,
            ["EHLO relay.example.org\r\n", "HELO relay.example.org\r\n"]
        );
        let (_, step) = run(&[b"421 busy\r\n"]);
        let Step::Failed(e) = step else { panic!() };
        assert!(e.is_temporary());
        let (_, step) = run(&[b"554 go away\r\n"]);
        let Step::Failed(e) = step else { panic!() };
        assert!(!e.is_temporary());
        assert_eq!(e.tlsrpt_result(), "validation-failure");
        let (_, step) = run(&[b"220 mx\r\n", b"250 mx\r\n"]);
        assert!(matches!(step, Step::NoStartTls { .. }));
    }

    #[test]
    fn greeting_and_ehlo_lines_are_kept() {
        let mut c = StartTls::new("relay.example.org").unwrap();
        assert!(matches!(c.poll(), Step::Read));
        c.on_data(b"220-mx.example.com ESMTP\r\n220 no UCE\r\n");
        assert!(matches!(c.poll(), Step::Send(_)));
        c.on_data(b"250-mx.example.com hello\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n");
        assert!(matches!(c.poll(), Step::Send(_)), "STARTTLS");
        assert_eq!(c.greeting(), ["mx.example.com ESMTP", "no UCE"]);
        assert_eq!(
            c.ehlo(),
            ["mx.example.com hello", "SIZE 10240000", "STARTTLS"]
        );
    }

    #[test]
    fn helo_names_cannot_inject() {
        for bad in ["", "a b", "a\r\nRCPT TO:<x>", "a\0"] {
            assert_eq!(StartTls::new(bad).unwrap_err().code(), "smtp-helo-invalid");
        }
    }
}
