//! The SMTP client side of a mail transaction after the greeting (and after STARTTLS), sans-IO:
//! one command at a time, each reply paired with the command it answers (RFC 5321 §4.2, §4.3.2).
//!
//! The host writes what [`SmtpClient::command`] returns, feeds every byte it receives to
//! [`SmtpClient::on_data`] and gets back, at most once per command, the [`Answer`]. The message
//! body itself does not pass through here: after a 354 the host streams it (dot-stuffed) and then
//! calls `command(Command::EndOfData, "")`, which expects the final reply.
//!
//! Rules this enforces, so that no host has to:
//! - a reply is read with one set of limits ([`super::reply::MAX_LINE`], [`super::reply::MAX_LINES`]);
//! - bytes that arrive while no command is waiting are out of step: the session is over
//!   (`smtp-out-of-step`), never taken as the answer to the next command;
//! - each command accepts only its RFC 5321 §4.3.2 codes: DATA must get 354 before any of the
//!   message is sent (a 2xx to DATA is not delivery), and only a 2xx to the end of data is.

use super::reply::{Reply, ReplyReader};
use crate::error::{Error, SmtpError};

/// The commands a delivery sends after the greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    /// The `<CRLF>.<CRLF>` after the body; the host writes it (it ends its dot-stuffer).
    EndOfData,
    Rset,
    Noop,
    Quit,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Ehlo => "EHLO",
            Command::Helo => "HELO",
            Command::Mail => "MAIL FROM",
            Command::Rcpt => "RCPT TO",
            Command::Data => "DATA",
            Command::EndOfData => "end of DATA",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
        }
    }

    pub fn from_name(name: &str) -> Option<Command> {
        Some(match name {
            "ehlo" => Command::Ehlo,
            "helo" => Command::Helo,
            "mail" => Command::Mail,
            "rcpt" => Command::Rcpt,
            "data" => Command::Data,
            "end-of-data" => Command::EndOfData,
            "rset" => Command::Rset,
            "noop" => Command::Noop,
            "quit" => Command::Quit,
            _ => return None,
        })
    }
}

/// What a reply means for the command it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    /// 2yz (RFC 5321 §4.2.1): done; for [`Command::EndOfData`] this alone is delivery.
    Accepted,
    /// 354 to DATA: send the message now.
    SendData,
    /// 4yz: refused for now.
    Transient,
    /// 5yz: refused for good.
    Permanent,
}

/// A reply and what it means for its command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub command: Command,
    pub reply: Reply,
    pub meaning: Meaning,
}

/// RFC 5321 §4.1.1.1: EHLO keywords and their parameters, from a 250 reply's lines after the first.
pub fn ehlo_keywords(reply: &Reply) -> Vec<(String, Vec<String>)> {
    reply
        .lines
        .iter()
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let keyword = words.next()?.to_ascii_uppercase();
            Some((keyword, words.map(str::to_string).collect()))
        })
        .collect()
}

/// RFC 3463 §2: `class.subject.detail` at the start of the first line, e.g. `5.1.1`.
pub fn enhanced_code(reply: &Reply) -> Option<&str> {
    let word = reply.text().split(' ').next()?;
    let mut parts = word.split('.');
    let class = parts.next()?;
    let ok = matches!(class, "2" | "4" | "5")
        && parts.clone().count() == 2
        && parts.all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    (ok && word.as_bytes()[0] == reply.code.to_string().as_bytes()[0]).then_some(word)
}

/// The client's half of the transaction.
#[derive(Debug, Default)]
pub struct SmtpClient {
    reader: ReplyReader,
    waiting: Option<Command>,
    failed: Option<Error>,
}

impl SmtpClient {
    pub fn new() -> SmtpClient {
        SmtpClient::default()
    }

    /// The command waiting for its reply, if any.
    pub fn waiting(&self) -> Option<Command> {
        self.waiting
    }

    /// The bytes to write for `command` with `arg` (the EHLO name, the path with its parameters
    /// for MAIL/RCPT, nothing for the others). Refused while another command waits for its reply
    /// or after the session failed, and for an argument holding CR, LF or NUL (RFC 5321 §2.3.8:
    /// one command per line, so no argument may inject another).
    pub fn command(&mut self, command: Command, arg: &str) -> Result<Vec<u8>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Some(w) = self.waiting {
            return Err(SmtpError::BadCommand {
                detail: format!(
                    "{} sent while {} still waits for its reply",
                    command.name(),
                    w.name()
                ),
            }
            .into());
        }
        if arg.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(SmtpError::BadCommand {
                detail: format!(
                    "the argument of {} must not contain CR, LF or NUL",
                    command.name()
                ),
            }
            .into());
        }
        let line = match command {
            Command::Ehlo | Command::Helo if arg.is_empty() || arg.contains(' ') => {
                return Err(SmtpError::BadHeloName { name: arg.into() }.into())
            }
            Command::Ehlo => format!("EHLO {arg}\r\n"),
            Command::Helo => format!("HELO {arg}\r\n"),
            Command::Mail => format!("MAIL FROM:{arg}\r\n"),
            Command::Rcpt => format!("RCPT TO:{arg}\r\n"),
            Command::Data => "DATA\r\n".into(),
            Command::EndOfData => String::new(),
            Command::Rset => "RSET\r\n".into(),
            Command::Noop => "NOOP\r\n".into(),
            Command::Quit => "QUIT\r\n".into(),
        };
        self.waiting = Some(command);
        Ok(line.into_bytes())
    }

    /// Bytes from the server. `Ok(Some(answer))` when they complete the reply to the waiting
    /// command; `Ok(None)` when more are needed; an error ends the session (close it).
    pub fn on_data(&mut self, data: &[u8]) -> Result<Option<Answer>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if data.is_empty() {
            return Ok(None);
        }
        let Some(command) = self.waiting else {
            return self.fail(SmtpError::OutOfStep {
                detail: format!(
                    "{} bytes arrived while no command was waiting ({})",
                    data.len(),
                    crate::diagnostic::shown(&String::from_utf8_lossy(&data[..data.len().min(40)]))
                ),
            });
        };
        self.reader.push(data);
        let reply = match self.reader.next_reply() {
            Ok(Some(reply)) => reply,
            Ok(None) => return Ok(None),
            Err(e) => return self.fail(SmtpError::Protocol { detail: e.0 }),
        };
        self.waiting = None;
        if self.reader.pending() > 0 {
            // More than one reply to one command (e.g. "250 x" then "250-..." lines): whatever
            // follows would be read as the answer to the next command.
            return self.fail(SmtpError::OutOfStep {
                detail: format!(
                    "{} answered {}, then sent {} more bytes before the next command",
                    reply,
                    command.name(),
                    self.reader.pending()
                ),
            });
        }
        let meaning = match (command, reply.code) {
            (Command::Data, 354) => Meaning::SendData,
            (_, 400..=499) => Meaning::Transient,
            (_, 500..=599) => Meaning::Permanent,
            (Command::Data, _) | (_, 300..=399) => {
                return self.fail(SmtpError::UnexpectedReply {
                    command: command.name(),
                    code: reply.code,
                    text: reply.text().to_string(),
                })
            }
            _ => Meaning::Accepted,
        };
        Ok(Some(Answer {
            command,
            reply,
            meaning,
        }))
    }

    /// The server closed the connection (or it broke). The waiting command, if any, failed.
    pub fn on_close(&mut self) -> Error {
        let e = self.failed.clone().unwrap_or_else(|| {
            SmtpError::Closed {
                during: self.waiting.map_or("session", Command::name),
            }
            .into()
        });
        self.failed = Some(e.clone());
        e
    }

    fn fail<T>(&mut self, e: SmtpError) -> Result<T, Error> {
        let e = Error::from(e);
        self.failed = Some(e.clone());
        self.waiting = None;
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: [Command; 9] = [
        Command::Ehlo,
        Command::Helo,
        Command::Mail,
        Command::Rcpt,
        Command::Data,
        Command::EndOfData,
        Command::Rset,
        Command::Noop,
        Command::Quit,
    ];

    #[test]
    fn every_command_has_its_binding_name_and_its_own_display_name() {
        // The bindings name commands in kebab case; each name gives back its command, and only it.
        let names = [
            "ehlo",
            "helo",
            "mail",
            "rcpt",
            "data",
            "end-of-data",
            "rset",
            "noop",
            "quit",
        ];
        for (command, name) in COMMANDS.iter().zip(names) {
            assert_eq!(Command::from_name(name), Some(*command), "{name}");
        }
        for bad in ["", "EHLO", "starttls", "end of DATA", "xyzzy"] {
            assert_eq!(Command::from_name(bad), None, "{bad:?}");
        }
        let shown = [
            "EHLO",
            "HELO",
            "MAIL FROM",
            "RCPT TO",
            "DATA",
            "end of DATA",
            "RSET",
            "NOOP",
            "QUIT",
        ];
        for (command, text) in COMMANDS.iter().zip(shown) {
            assert_eq!(command.name(), text);
        }
    }

    #[test]
    fn waiting_names_the_command_until_its_reply_comes() {
        let mut c = SmtpClient::new();
        assert_eq!(c.waiting(), None);
        c.command(Command::Mail, "<a@example.com>").unwrap();
        assert_eq!(c.waiting(), Some(Command::Mail));
        c.on_data(b"250 ok\r\n").unwrap();
        assert_eq!(c.waiting(), None);
    }

    #[test]
    fn enhanced_code_table() {
        // (code, first line, enhanced code, reason) — RFC 3463 §2: class.subject.detail, the
        // class the reply's own first digit, subject and detail 1-3 digits.
        let cases: &[(u16, &str, Option<&str>, &str)] = &[
            (550, "5.1.1 no such user", Some("5.1.1"), "the usual form"),
            (451, "4.7.0 try later", Some("4.7.0"), "transient"),
            (250, "2.0.0 ok", Some("2.0.0"), "success"),
            (250, "2.100.999 ok", Some("2.100.999"), "three digits each"),
            (
                550,
                "4.1.1 mismatched",
                None,
                "class other than the reply's",
            ),
            (550, "3.1.1 bad class", None, "class 3 does not exist"),
            (550, "5.1 two parts", None, "two parts"),
            (550, "5.1.1.1 four parts", None, "four parts"),
            (550, "5.1000.1 long subject", None, "subject of four digits"),
            (550, "5..1 empty subject", None, "empty subject"),
            (550, "5.1.x letter", None, "a letter in the detail"),
            (550, "no code here", None, "no enhanced code"),
        ];
        for (code, text, want, why) in cases {
            let reply = Reply {
                code: *code,
                lines: vec![text.to_string()],
            };
            assert_eq!(enhanced_code(&reply), *want, "{why}: {code} {text}");
        }
    }

    /// Sends `command`, then feeds `chunks`; returns the answer's meaning or the error code.
    fn exchange(
        c: &mut SmtpClient,
        command: Command,
        chunks: &[&[u8]],
    ) -> Result<Option<Meaning>, &'static str> {
        c.command(command, "<a@example.com>")
            .map_err(|e| e.code())?;
        let mut out = None;
        for chunk in chunks {
            match c.on_data(chunk) {
                Ok(Some(a)) => out = Some(a.meaning),
                Ok(None) => {}
                Err(e) => return Err(e.code()),
            }
        }
        Ok(out)
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn replies_answer_their_own_command() {
        use Meaning::*;
        // (command, server bytes, result, reason)
        let cases: &[(Command, &[&[u8]], Result<Option<Meaning>, &str>, &str)] = &[
            (
                Command::Mail,
                &[b"250 ok\r\n"],
                Ok(Some(Accepted)),
                "MAIL accepted",
            ),
            (
                Command::Rcpt,
                &[b"550 5.1.1 no\r\n"],
                Ok(Some(Permanent)),
                "RCPT refused",
            ),
            (
                Command::Rcpt,
                &[b"45", b"1 later\r\n"],
                Ok(Some(Transient)),
                "split reply",
            ),
            (Command::Rcpt, &[b"250-a\r\n"], Ok(None), "incomplete"),
            (
                Command::Data,
                &[b"354 go\r\n"],
                Ok(Some(SendData)),
                "DATA 354",
            ),
            (
                Command::Data,
                &[b"250 ok\r\n"],
                Err("smtp-unexpected-reply"),
                "2xx to DATA is not delivery",
            ),
            (
                Command::Data,
                &[b"451 busy\r\n"],
                Ok(Some(Transient)),
                "DATA refused",
            ),
            (
                Command::EndOfData,
                &[b"250 queued\r\n"],
                Ok(Some(Accepted)),
                "delivered",
            ),
            (
                Command::EndOfData,
                &[b"354 what\r\n"],
                Err("smtp-unexpected-reply"),
                "3xx to the end of data",
            ),
            (
                Command::Mail,
                &[b"250 x\r\n250-y\r\n250 z\r\n"],
                Err("smtp-out-of-step"),
                "two replies to one command",
            ),
            (
                Command::Mail,
                &[b"250 x\r\n250-y"],
                Err("smtp-out-of-step"),
                "a second reply begins",
            ),
            (
                Command::Ehlo,
                &[b"SSH-2.0\r\n"],
                Err("smtp-protocol-error"),
                "not SMTP",
            ),
            (
                Command::Ehlo,
                &[&b"250-x\r\n".repeat(300)],
                Err("smtp-protocol-error"),
                "endless reply: the one line limit",
            ),
            (
                Command::Ehlo,
                &[&[b'2'; 5000]],
                Err("smtp-protocol-error"),
                "endless line",
            ),
        ];
        for (command, chunks, want, why) in cases {
            let mut c = SmtpClient::new();
            assert_eq!(&exchange(&mut c, *command, chunks), want, "{why}");
        }
    }

    #[test]
    fn bytes_nobody_asked_for_end_the_session() {
        let mut c = SmtpClient::new();
        assert_eq!(
            exchange(&mut c, Command::Mail, &[b"250 ok\r\n"]),
            Ok(Some(Meaning::Accepted))
        );
        // The leftovers of a malformed reply arrive in a later read, before the next command.
        assert_eq!(
            c.on_data(b"250-late\r\n").unwrap_err().code(),
            "smtp-out-of-step"
        );
        assert_eq!(
            c.command(Command::Rcpt, "<b@example.com>")
                .unwrap_err()
                .code(),
            "smtp-out-of-step",
            "stays failed"
        );
    }

    #[test]
    fn one_command_at_a_time_and_no_injection() {
        let mut c = SmtpClient::new();
        assert_eq!(
            c.command(Command::Mail, "<a@example.com>").unwrap(),
            b"MAIL FROM:<a@example.com>\r\n"
        );
        assert_eq!(
            c.command(Command::Rcpt, "<b@example.com>")
                .unwrap_err()
                .code(),
            "invalid-argument"
        );
        let mut c = SmtpClient::new();
        assert_eq!(
            c.command(Command::Rcpt, "<a@x>\r\nDATA")
                .unwrap_err()
                .code(),
            "invalid-argument"
        );
        assert_eq!(
            c.command(Command::Ehlo, "a b").unwrap_err().code(),
            "smtp-helo-invalid"
        );
        assert_eq!(
            c.command(Command::EndOfData, "").unwrap(),
            b"",
            "the host writes the end line"
        );
        let mut c = SmtpClient::new();
        c.command(Command::Quit, "").unwrap();
        assert_eq!(c.on_close().code(), "smtp-closed");
    }

    #[test]
    fn keywords_and_enhanced_codes() {
        let r = Reply {
            code: 250,
            lines: vec!["mx".into(), "size 1000".into(), "STARTTLS".into()],
        };
        assert_eq!(
            ehlo_keywords(&r),
            vec![
                ("SIZE".into(), vec!["1000".into()]),
                ("STARTTLS".into(), vec![])
            ]
        );
        let r = |code, t: &str| Reply {
            code,
            lines: vec![t.into()],
        };
        assert_eq!(enhanced_code(&r(550, "5.1.1 no such user")), Some("5.1.1"));
        assert_eq!(enhanced_code(&r(550, "4.1.1 wrong class")), None);
        assert_eq!(enhanced_code(&r(250, "2.0.0")), Some("2.0.0"));
        assert_eq!(enhanced_code(&r(250, "ok")), None);
    }
}
