//! One delivery to a domain's MX as a sans-IO state machine (RFC 8461 §4, §5; RFC 5321 §5.1;
//! RFC 3207; RFC 7505).
//!
//! ```text
//! let mut d = Delivery::new(domain, policy, options);
//! loop {
//!     match d.poll(now_ms) {
//!         Step::ResolveMx { name }              => d.on_mx(host.mx(name)),
//!         Step::ResolveAddresses { host }       => d.on_addresses(host.addresses(host)),
//!         Step::Connect { address, port, .. }   => d.on_connected() / d.on_connect_failed(..),
//!         Step::Send(bytes)                     => host.write(bytes),
//!         Step::Read { timeout_ms }             => d.on_data(bytes) / d.on_close() / d.on_timeout(),
//!         Step::StartTls { server_name, .. }    => d.on_tls(chain, ..) / d.on_tls_failed(detail),
//!         Step::Close                           => host.close_connection(),
//!         Step::Ready(ready)                    => break deliver over this connection,
//!         Step::Done(failure)                   => break answer failure.reply,
//!     }
//! }
//! ```
//!
//! The machine owns every decision: the MX plan (§4.1 filtering and preference order), the limits
//! (addresses, sessions, one deadline for the whole delivery), the SMTP dialogue up to STARTTLS,
//! the §4.2 certificate verdict for the host actually dialled, the §5 verdict per attempt, the
//! plaintext retry opportunistic senders make when TLS fails (never under enforce), the TLS-RPT
//! result of every attempt and the final reply. The host performs I/O and keeps timers.

use super::address::{screen, AddressRules, Screened};
use super::judge::{judge, TlsResult, Verdict};
use super::plan::{plan, Candidate, MxRecord};
use crate::cert::{verify_chain, SignatureHost, TrustAnchors};
use crate::error::{ConnectError, DeliveryError, Error, SmtpError};
use crate::policy::{Mode, Policy};
use crate::relay::{failure_reply, RelayReply, Trace};
use crate::smtp::{self, StartTls};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// Bounds on one delivery. Defaults follow Postfix (`smtp_mx_address_limit = 5`,
/// `smtp_mx_session_limit = 2`) and keep the whole delivery below a sending MTA's RCPT timeout
/// (Postfix `smtp_rcpt_timeout = 300s`), so it hears an answer rather than giving up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Addresses dialled in all, over every MX host (per pass).
    pub max_addresses: usize,
    /// SMTP sessions (connections that got a greeting) per pass.
    pub max_sessions: usize,
    /// The whole delivery, from the first poll to Ready or Done.
    pub deadline_ms: u64,
    pub connect_ms: u64,
    /// Each reply before TLS (greeting, EHLO, STARTTLS); a reply trickled byte by byte still has
    /// to be complete within this time.
    pub reply_ms: u64,
    pub tls_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_addresses: 5,
            max_sessions: 2,
            deadline_ms: 240_000,
            connect_ms: 30_000,
            reply_ms: 60_000,
            tls_ms: 30_000,
        }
    }
}

/// How to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The EHLO name (RFC 5321 §4.1.1.1).
    pub helo_name: String,
    /// RFC 5321 §4.5.4.2: 25; another port for test infrastructure only.
    pub port: u16,
    /// Refuse plaintext and invalid certificates even without a policy.
    pub require_tls: bool,
    pub limits: Limits,
}

/// How long a probe waits for the 221 to its QUIT (RFC 5321 §4.1.1.10) before closing anyway.
const QUIT_WAIT_MS: u64 = 2_000;

/// The answer to [`Step::ResolveMx`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MxAnswer {
    Records(Vec<MxRecord>),
    /// NODATA: the name exists but has no MX (RFC 5321 §5.1: the domain is its own MX).
    NoRecords,
    /// NXDOMAIN: the domain does not exist.
    NxDomain,
    /// Timeout, SERVFAIL, refused: try again later, never the same as no MX.
    Temporary(String),
}

/// The answer to [`Step::ResolveAddresses`]: A and AAAA through the same resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressAnswer {
    /// Numeric addresses in the order to dial.
    Addresses(Vec<String>),
    NoAddresses(String),
    NxDomain,
    Temporary(String),
}

/// The next thing the host must do. Each variant is a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Look up the MX records of `name` and pass the answer to [`Delivery::on_mx`]. NXDOMAIN and
    /// NODATA are different answers; a timeout is [`MxAnswer::Temporary`].
    ResolveMx { name: String },
    /// Look up A and AAAA of `host` through the same resolver (never the OS's own) and pass the
    /// numeric addresses to [`Delivery::on_addresses`].
    ResolveAddresses { host: String },
    /// Open a TCP connection to `address`:`port` (numeric, nothing to resolve) within
    /// `timeout_ms`, from `local_address` when one is given (bind it; of the target's family);
    /// then [`Delivery::on_connected`], or [`Delivery::on_connect_failed`] /
    /// [`Delivery::on_timeout`]. `host` is the MX host name the address belongs to.
    Connect {
        host: String,
        address: String,
        port: u16,
        timeout_ms: u64,
        local_address: Option<String>,
    },
    /// Write these bytes on the connection, then poll again.
    Send(Vec<u8>),
    /// Read; pass every chunk to [`Delivery::on_data`] as it arrives, the end of the stream (or a
    /// reset) to [`Delivery::on_close`], and nothing within `timeout_ms` to
    /// [`Delivery::on_timeout`]. Stop reading before polling again.
    Read { timeout_ms: u64 },
    /// The server accepted STARTTLS: run the TLS handshake on this connection with SNI
    /// `server_name` (TLS 1.2 or later, the host's own trust decision off) within `timeout_ms`,
    /// then pass the peer's chain to [`Delivery::on_tls`] or the failure to
    /// [`Delivery::on_tls_failed`]. Read nothing else from the socket before it.
    StartTls {
        server_name: String,
        timeout_ms: u64,
    },
    /// Close the current connection (without QUIT), then poll again.
    Close,
    /// Deliver over the current connection (see [`Ready`]). The machine is finished.
    Ready(Ready),
    /// No MX could be used; close any connection still open. The machine is finished.
    Done(Failure),
    /// Probe only: every address was tried and judged (see [`Delivery::probe`]); the attempts are
    /// the result. The machine is finished.
    Probed,
}

/// A connection ready for the mail transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    pub mx: Candidate,
    pub address: String,
    pub port: u16,
    /// `deliver` (after a verified STARTTLS, or TLS the mode tolerates) or `deliver-plaintext`.
    /// After TLS the caller says EHLO again (RFC 3207 §4.2); after plaintext EHLO was answered.
    pub verdict: Verdict,
    /// The TLS version, when the connection is TLS.
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    /// The §4.2 verdict on the certificate, when the connection is TLS.
    pub certificate: Option<CertificateVerdict>,
    /// The facts for the trace header (see [`crate::relay::trace_header`]).
    pub trace: TraceFacts,
    /// The lines of the server's 220 greeting (text after the code).
    pub greeting: Vec<String>,
    /// The lines of its 250 answer to our EHLO before TLS (its name, then its extensions). After
    /// TLS they are stale (RFC 3207 §4.2): the caller's own EHLO gets the ones that count.
    pub ehlo: Vec<String>,
}

/// The certificate verdict handed out with a TLS connection: `{ ok, code, message }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateVerdict {
    pub ok: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    pub tlsrpt: Option<String>,
}

/// The trace header's facts, decided here once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceFacts {
    /// `verified`: TLS with a certificate valid for the MX name (§4.2); `unverified`: TLS with a
    /// certificate the mode tolerated; `plaintext`.
    pub result: &'static str,
    pub policy_domain: String,
    pub mode: Option<&'static str>,
    pub policy_id: Option<String>,
    pub mx: String,
    pub tls_version: Option<String>,
}

impl TraceFacts {
    pub fn as_trace(&self) -> Trace<'_> {
        Trace {
            result: self.result,
            policy_domain: &self.policy_domain,
            mode: self.mode,
            policy_id: self.policy_id.as_deref(),
            mx: &self.mx,
            tls_version: self.tls_version.as_deref(),
        }
    }
}

/// Why no MX could be used, and what the sending MTA hears.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub error: Error,
    /// The relay's reply: 4xx keeps the message queued upstream; 5xx only for a cause no retry
    /// can fix (RFC 3463 enhanced code).
    pub reply: RelayReply,
    /// The last MX host tried, if any.
    pub mx: Option<String>,
    /// The error's message, followed for "every MX failed" and the deadline by each attempt
    /// (`host (address): result; ...`), for logs and the caller's exception.
    pub message: String,
}

/// One attempt on one address, as recorded for TLS-RPT (RFC 8460 §4.3) and the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub host: String,
    pub address: Option<String>,
    pub port: u16,
    /// `success` or the failure code.
    pub result: String,
    /// RFC 8460 result type of the failure; none for a success or a plaintext retry (which is no
    /// TLS session to report).
    pub tlsrpt: Option<String>,
    pub message: Option<String>,
    pub temporary: bool,
    pub mode: Option<&'static str>,
    pub verdict: Verdict,
    /// TLS was established (whatever the certificate).
    pub secured: bool,
    pub tls_version: Option<String>,
    /// A plaintext retry after TLS failed on this address (not a TLS-RPT session).
    pub fallback: bool,
    /// Whether the server offered STARTTLS (RFC 3207 §4): None when the dialogue did not get as
    /// far as the EHLO reply.
    pub starttls: Option<bool>,
    pub cipher: Option<String>,
    /// The §4.2 verdict when TLS was established.
    pub certificate: Option<CertificateVerdict>,
    /// The RFC section of the failure's rule.
    pub rfc: Option<&'static str>,
    /// The host's own word for a network failure (`ECONNREFUSED`, a TLS alert), if any.
    pub detail: Option<String>,
    /// RFC 8460 §4.4 `sending-mta-ip`: our local address on this connection, as the host said
    /// (none when no connection was made).
    pub sending_ip: Option<String>,
}

/// What an attempt showed of the server, for its record.
#[derive(Default)]
struct Seen {
    starttls: Option<bool>,
    tls_version: Option<String>,
    cipher: Option<String>,
    certificate: Option<CertificateVerdict>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    candidate: usize,
    address: String,
}

#[derive(Debug)]
enum State {
    Start,
    AwaitMx,
    /// Choose the next address, or the next candidate to resolve.
    Next,
    AwaitAddresses(usize),
    AwaitConnect(Target),
    Dialogue(Target, Box<StartTls>, u64),
    AwaitTls(Target),
    /// Probe: QUIT to send (false) or sent (true), then waiting until the time given (briefly) for
    /// the 221 or the close.
    Quitting(u64, bool),
    Finished,
}

/// One delivery (see the module docs).
#[derive(Debug)]
pub struct Delivery {
    domain: String,
    policy: Option<Policy>,
    policy_id: Option<String>,
    options: Options,
    now: u64,
    deadline: Option<u64>,
    state: State,
    candidates: Vec<Candidate>,
    /// The next candidate whose addresses are to be looked up.
    next_candidate: usize,
    queue: std::collections::VecDeque<Target>,
    addresses: usize,
    sessions: usize,
    plaintext_pass: bool,
    retry_plaintext: Vec<Target>,
    attempts: Vec<Attempt>,
    open: bool,
    finished: Option<Step>,
    /// Probe mode (see [`Delivery::probe`]): `Some(excluded)`.
    probe: Option<bool>,
    /// The local address of the current connection (the host tells it with `on_connected`).
    sending_ip: Option<String>,
    /// Which addresses are dialled (families, special-purpose ranges, local address).
    rules: AddressRules,
    /// MX records the host gave instead of a lookup ([`Delivery::give_mx`]).
    given_mx: Option<Vec<MxRecord>>,
    /// Addresses given with them, by normalised host name.
    given_addresses: Vec<(String, Vec<String>)>,
    /// What the server of the current session said: its greeting and EHLO lines.
    greeting: Vec<String>,
    ehlo: Vec<String>,
}

impl Delivery {
    /// `domain`: the recipient (policy) domain, normalised by the caller; `policy`: the one that
    /// applies (found or cached) with its TXT id, or none.
    pub fn new(
        domain: &str,
        policy: Option<(Policy, Option<String>)>,
        options: Options,
    ) -> Result<Delivery, Error> {
        let domain = crate::domain::normalize_domain(domain)?;
        StartTls::new(&options.helo_name)?; // the EHLO name is checked before any I/O
        let (policy, policy_id) = match policy {
            Some((p, id)) => (Some(p), id),
            None => (None, None),
        };
        Ok(Delivery {
            domain,
            policy,
            policy_id,
            options,
            now: 0,
            deadline: None,
            state: State::Start,
            candidates: Vec::new(),
            next_candidate: 0,
            queue: Default::default(),
            addresses: 0,
            sessions: 0,
            plaintext_pass: false,
            retry_plaintext: Vec::new(),
            attempts: Vec::new(),
            open: false,
            finished: None,
            probe: None,
            sending_ip: None,
            rules: AddressRules::permissive(),
            given_mx: None,
            given_addresses: Vec::new(),
            greeting: Vec::new(),
            ehlo: Vec::new(),
        })
    }

    /// The host's rules for the addresses dialled (families and their order, RFC 6890 ranges,
    /// local addresses). Without them the machine dials every address it is given, as given
    /// ([`AddressRules::permissive`]). Set before the first poll.
    pub fn set_address_rules(&mut self, rules: AddressRules) {
        self.rules = rules;
    }

    /// MX records the caller already has, instead of the MX lookup: the machine plans with them
    /// (RFC 8461 §4.1 filtering and preference order as for DNS records) and never asks
    /// [`Step::ResolveMx`]. A record with `addresses` is dialled on those (screened by the rules
    /// like a DNS answer) and never asks [`Step::ResolveAddresses`]. Set before the first poll.
    pub fn give_mx(&mut self, records: Vec<MxRecord>, addresses: Vec<Option<Vec<String>>>) {
        self.given_addresses = records
            .iter()
            .zip(addresses)
            .filter_map(|(r, a)| {
                let host = crate::mx::normalize_host(&r.exchange).ok()?;
                Some((host.to_ascii_lowercase(), a?))
            })
            .collect();
        self.given_mx = Some(records);
    }

    /// A probe of one MX `host` of `domain` as a sender under `policy` would meet it (`mtasts
    /// check`): every address is dialled, taken through EHLO, STARTTLS and the handshake, judged
    /// like a delivery (RFC 8461 §4.1, §4.2, §5), and left with QUIT; never MAIL FROM. No limits
    /// on addresses or sessions, no plaintext retry; ends with [`Step::Probed`]. Under enforce a
    /// host outside the policy is still probed (for the person looking) and judged `excluded`.
    pub fn probe(
        domain: &str,
        policy: Option<(Policy, Option<String>)>,
        host: &str,
        options: Options,
    ) -> Result<Delivery, Error> {
        let mut d = Delivery::new(domain, policy, options)?;
        let host = crate::mx::normalize_host(host)?.to_ascii_lowercase();
        let matched = d
            .policy
            .as_ref()
            .and_then(|p| crate::mx::match_mx(&p.mx, &host).ok().flatten())
            .map(|m| m.as_str().to_string());
        // §5: under enforce a host outside the policy is never dialled by a sender.
        let excluded = d.mode() == Some(Mode::Enforce) && matched.is_none();
        d.candidates = vec![Candidate {
            host,
            priority: 0,
            matched,
            implicit: false,
        }];
        d.options.limits.max_addresses = usize::MAX;
        d.options.limits.max_sessions = usize::MAX;
        d.probe = Some(excluded);
        d.state = State::Next;
        Ok(d)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    fn mode(&self) -> Option<Mode> {
        self.policy.as_ref().map(|p| p.mode)
    }

    /// RFC 8460 §4.4: `sts` when an MTA-STS policy applied, else `no-policy-found` (mode `none`
    /// is a policy that asks for nothing).
    pub fn policy_type(&self) -> &'static str {
        match self.mode() {
            Some(Mode::Enforce | Mode::Testing) => "sts",
            _ => "no-policy-found",
        }
    }

    pub fn policy_id(&self) -> Option<&str> {
        self.policy_id.as_deref()
    }

    pub fn mode_str(&self) -> Option<&'static str> {
        self.mode().map(Mode::as_str)
    }

    /// Every attempt so far, in order.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The next step at `now` (ms, any epoch, never going back).
    pub fn poll(&mut self, now: u64) -> Step {
        self.now = self.now.max(now);
        if let Some(step) = &self.finished {
            return step.clone();
        }
        let deadline = *self
            .deadline
            .get_or_insert(now.saturating_add(self.options.limits.deadline_ms));
        if self.now >= deadline {
            let e = DeliveryError::DeadlineExceeded {
                ms: self.options.limits.deadline_ms,
                attempts: self.attempts.len(),
            };
            return self.finish_failed(e.into());
        }
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Start => {
                    self.state = State::AwaitMx;
                    if let Some(records) = self.given_mx.take() {
                        self.on_mx(MxAnswer::Records(records));
                        continue;
                    }
                    return Step::ResolveMx {
                        name: self.domain.clone(),
                    };
                }
                s @ (State::AwaitMx
                | State::AwaitAddresses(_)
                | State::AwaitConnect(_)
                | State::AwaitTls(_)) => {
                    // Polled again before the host answered: the same request stands.
                    let step = self.request_for(&s);
                    self.state = s;
                    return step;
                }
                State::Next => {
                    if self.open {
                        self.open = false;
                        self.state = State::Next;
                        return Step::Close;
                    }
                    if let Some(step) = self.next_target() {
                        return step;
                    }
                }
                State::Dialogue(target, mut dialogue, reply_by) => match dialogue.poll() {
                    smtp::Step::Send(bytes) => {
                        let by = self.now.saturating_add(self.options.limits.reply_ms);
                        self.state = State::Dialogue(target, dialogue, by);
                        return Step::Send(bytes);
                    }
                    smtp::Step::Read => {
                        let timeout_ms = reply_by.saturating_sub(self.now).min(deadline - self.now);
                        self.state = State::Dialogue(target, dialogue, reply_by);
                        return Step::Read {
                            timeout_ms: timeout_ms.max(1),
                        };
                    }
                    smtp::Step::StartTls { .. } => {
                        self.greeting = dialogue.greeting().to_vec();
                        self.ehlo = dialogue.ehlo().to_vec();
                        let server_name = self.candidates[target.candidate].host.clone();
                        self.state = State::AwaitTls(target);
                        return Step::StartTls {
                            server_name,
                            timeout_ms: self.options.limits.tls_ms.min(deadline - self.now),
                        };
                    }
                    smtp::Step::NoStartTls { .. } => {
                        self.greeting = dialogue.greeting().to_vec();
                        self.ehlo = dialogue.ehlo().to_vec();
                        if let Some(step) = self.judged(target, TlsResult::NoStartTls, None) {
                            return step;
                        }
                    }
                    smtp::Step::Failed(error) => {
                        let greeted = dialogue.greeted();
                        self.on_unreachable(target, error, greeted);
                    }
                },
                State::Quitting(by, sent) => {
                    self.state = State::Quitting(by, true);
                    if !sent {
                        return Step::Send(b"QUIT\r\n".to_vec());
                    }
                    return Step::Read {
                        timeout_ms: by.saturating_sub(self.now).clamp(1, deadline - self.now),
                    };
                }
                State::Finished => {
                    // Only reached when a Ready/Done was produced; `finished` holds it.
                    return self.finished.clone().unwrap_or_else(|| {
                        self.finish_failed(
                            DeliveryError::AllFailed {
                                attempts: 0,
                                temporary: true,
                            }
                            .into(),
                        )
                    });
                }
            }
        }
    }

    fn request_for(&self, state: &State) -> Step {
        match state {
            State::AwaitMx => Step::ResolveMx {
                name: self.domain.clone(),
            },
            State::AwaitAddresses(i) => Step::ResolveAddresses {
                host: self.candidates[*i].host.clone(),
            },
            State::AwaitConnect(t) => Step::Connect {
                host: self.candidates[t.candidate].host.clone(),
                address: t.address.clone(),
                port: self.options.port,
                timeout_ms: self.step_ms(self.options.limits.connect_ms),
                local_address: self.local_for(&t.address),
            },
            State::AwaitTls(t) => Step::StartTls {
                server_name: self.candidates[t.candidate].host.clone(),
                timeout_ms: self.step_ms(self.options.limits.tls_ms),
            },
            _ => Step::Read { timeout_ms: 1 },
        }
    }

    fn step_ms(&self, ms: u64) -> u64 {
        let left = self.deadline.map_or(ms, |d| d.saturating_sub(self.now));
        ms.min(left).max(1)
    }

    /// The next address to dial (looking up the next candidate's addresses when none is queued),
    /// or the end of this pass.
    fn next_target(&mut self) -> Option<Step> {
        let limits = &self.options.limits;
        let exhausted =
            self.addresses >= limits.max_addresses || self.sessions >= limits.max_sessions;
        if !exhausted {
            if let Some(target) = self.queue.pop_front() {
                self.addresses += 1;
                self.sending_ip = None;
                self.greeting.clear();
                self.ehlo.clear();
                let step = Step::Connect {
                    host: self.candidates[target.candidate].host.clone(),
                    address: target.address.clone(),
                    port: self.options.port,
                    timeout_ms: self.step_ms(limits.connect_ms),
                    local_address: self.local_for(&target.address),
                };
                self.state = State::AwaitConnect(target);
                return Some(step);
            }
            if !self.plaintext_pass && self.next_candidate < self.candidates.len() {
                let i = self.next_candidate;
                self.next_candidate += 1;
                self.state = State::AwaitAddresses(i);
                let host = &self.candidates[i].host;
                if let Some((_, given)) = self.given_addresses.iter().find(|(h, _)| h == host) {
                    // The caller gave this host's addresses: they are the answer.
                    let answer = if given.is_empty() {
                        AddressAnswer::NoAddresses("the MX entry given lists no address".into())
                    } else {
                        AddressAnswer::Addresses(given.clone())
                    };
                    self.on_addresses(answer);
                    return None;
                }
                return Some(Step::ResolveAddresses {
                    host: self.candidates[i].host.clone(),
                });
            }
        }
        if self.probe.is_some() {
            let step = Step::Probed;
            self.finished = Some(step.clone());
            self.state = State::Finished;
            return Some(step);
        }
        // RFC 8461 §5: testing (and no policy) deliver as if there were no policy, and an
        // opportunistic sender whose TLS failed retries in the clear (RFC 3207 §4.1; Postfix does
        // at level "may"). The relay has no queue to remember the failure for a later attempt,
        // so it retries now, once per address that failed TLS. Never under enforce.
        let may_fall_back = !self.options.require_tls && self.mode() != Some(Mode::Enforce);
        if !self.plaintext_pass && may_fall_back && !self.retry_plaintext.is_empty() {
            self.plaintext_pass = true;
            self.queue = std::mem::take(&mut self.retry_plaintext).into();
            self.addresses = 0;
            self.sessions = 0;
            self.state = State::Next;
            return self.next_target();
        }
        let temporaries: Vec<bool> = self.attempts.iter().map(|a| a.temporary).collect();
        let mut e: Error =
            DeliveryError::all_failed(self.mode() == Some(Mode::Enforce), &temporaries).into();
        if exhausted
            && (self.queue.len() + self.candidates.len().saturating_sub(self.next_candidate)) > 0
        {
            // Spec: limits reached with hosts left: never final, a later try may reach them.
            e = DeliveryError::AllFailed {
                attempts: self.attempts.len(),
                temporary: true,
            }
            .into();
        }
        Some(self.finish_failed(e))
    }

    /// The MX records (or their absence) for the domain.
    pub fn on_mx(&mut self, answer: MxAnswer) {
        if !matches!(self.state, State::AwaitMx) {
            return;
        }
        let records = match answer {
            MxAnswer::Records(r) => r,
            MxAnswer::NoRecords => Vec::new(),
            MxAnswer::NxDomain => {
                // RFC 5321 §5.1: a domain that does not exist has no mail exchanger to try.
                let e = DeliveryError::DomainNotFound {
                    domain: self.domain.clone(),
                };
                self.finish_failed(e.into());
                return;
            }
            MxAnswer::Temporary(detail) => {
                let e = ConnectError::MxLookup {
                    domain: self.domain.clone(),
                    detail,
                };
                self.finish_failed(e.into());
                return;
            }
        };
        match plan(&self.domain, &records, self.policy.as_ref()) {
            Ok(p) => {
                self.candidates = p.candidates;
                self.state = State::Next;
            }
            Err(e) => {
                self.finish_failed(e);
            }
        }
    }

    /// The addresses of the candidate asked for.
    pub fn on_addresses(&mut self, answer: AddressAnswer) {
        let State::AwaitAddresses(i) = self.state else {
            return;
        };
        let host = self.candidates[i].host.clone();
        let failure: Error = match answer {
            AddressAnswer::Addresses(list) if !list.is_empty() => {
                if self.screen_addresses(i, &list) {
                    self.state = State::Next;
                    return;
                }
                ConnectError::AddressNotFound {
                    host: host.clone(),
                    detail: self
                        .rules
                        .family
                        .lacking()
                        .unwrap_or("no A or AAAA record")
                        .into(),
                }
                .into()
            }
            AddressAnswer::Addresses(_) => ConnectError::AddressNotFound {
                host: host.clone(),
                detail: "no A or AAAA record".into(),
            }
            .into(),
            AddressAnswer::NoAddresses(detail) => ConnectError::AddressNotFound {
                host: host.clone(),
                detail,
            }
            .into(),
            AddressAnswer::NxDomain if self.candidates[i].implicit => {
                // RFC 5321 §5.1: no MX, and the domain itself has no address: it does not exist.
                self.finish_failed(
                    DeliveryError::DomainNotFound {
                        domain: self.domain.clone(),
                    }
                    .into(),
                );
                return;
            }
            AddressAnswer::NxDomain => ConnectError::AddressNotFound {
                host: host.clone(),
                detail: "NXDOMAIN".into(),
            }
            .into(),
            AddressAnswer::Temporary(detail) => ConnectError::AddressLookup {
                host: host.clone(),
                detail,
            }
            .into(),
        };
        let judgement = judge(
            self.mode(),
            &self.candidates[i],
            TlsResult::Unreachable { error: failure },
            self.options.require_tls,
        );
        self.record(
            i,
            None,
            &judgement.verdict,
            judgement.failure.as_ref(),
            false,
            Seen::default(),
        );
        self.state = State::Next;
    }

    /// Queues the addresses of candidate `i` the rules let through, in their order, and records
    /// an attempt for each one refused (RFC 6890) or unusable. False when nothing was queued or
    /// recorded: every address was of a family not dialled.
    fn screen_addresses(&mut self, i: usize, list: &[String]) -> bool {
        let mut any = false;
        for (text, screened) in screen(&self.rules, list) {
            let error: Error = match screened {
                Screened::Dial(ip) => {
                    any = true;
                    self.queue.push_back(Target {
                        candidate: i,
                        address: ip.to_string(),
                    });
                    continue;
                }
                Screened::OtherFamily => continue,
                // RFC 6890: a special-purpose address is no destination on the internet.
                Screened::Refused(ip, range) => ConnectError::AddressRefused {
                    host: self.candidates[i].host.clone(),
                    address: ip.to_string(),
                    kind: range.kind,
                    rfc: range.rfc,
                }
                .into(),
                Screened::NotAnAddress => ConnectError::AddressInvalid {
                    host: self.candidates[i].host.clone(),
                    address: text.clone(),
                }
                .into(),
            };
            any = true;
            let j = judge(
                self.mode(),
                &self.candidates[i],
                TlsResult::Unreachable { error },
                self.options.require_tls,
            );
            // Spec: never dialled, so no local address; the attempt is recorded (and reported
            // under RFC 8460 as an MX with no usable address is) so the caller sees why.
            self.sending_ip = None;
            self.record(
                i,
                Some(&text),
                &j.verdict,
                j.failure.as_ref(),
                false,
                Seen::default(),
            );
        }
        any
    }

    /// The local address to bind for `address` (the rules' one of its family).
    fn local_for(&self, address: &str) -> Option<String> {
        let ip = address.parse().ok()?;
        self.rules.local_for(&ip).map(|l| l.to_string())
    }

    /// The TCP connection is up: the SMTP dialogue begins. `local_address`: our end of it, for
    /// the TLS-RPT record (RFC 8460 §4.4 `sending-mta-ip`), when the host knows it.
    pub fn on_connected(&mut self, local_address: Option<&str>) {
        let Some(target) = self.take_connect() else {
            return;
        };
        self.open = true;
        self.sending_ip = local_address.map(str::to_string);
        let mut dialogue = StartTls::new(&self.options.helo_name).expect("checked in new()");
        if self.plaintext_pass {
            dialogue = dialogue.plaintext();
        }
        let by = self.now.saturating_add(self.options.limits.reply_ms);
        self.state = State::Dialogue(target, Box::new(dialogue), by);
    }

    /// The TCP connect failed (refused, unreachable): `detail` is the host's word for it.
    pub fn on_connect_failed(&mut self, detail: &str) {
        let Some(target) = self.take_connect() else {
            return;
        };
        let e = ConnectError::Refused {
            address: address_text(&target.address, self.options.port),
            detail: detail.to_string(),
        };
        self.on_unreachable(target, e.into(), false);
    }

    /// Bytes from the server during the dialogue before TLS.
    pub fn on_data(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Dialogue(_, dialogue, _) => dialogue.on_data(data),
            // Whatever the server answers QUIT is of no interest: the probe is done with it.
            State::Quitting(..) if !data.is_empty() => self.state = State::Next,
            _ => {}
        }
    }

    /// The server closed the connection (or it broke).
    pub fn on_close(&mut self) {
        match &mut self.state {
            State::Dialogue(_, dialogue, _) => dialogue.on_close(),
            State::AwaitTls(_) => {
                self.on_tls_failed("the connection closed during the TLS handshake")
            }
            State::Quitting(..) => {
                self.open = false;
                self.state = State::Next;
            }
            _ => {}
        }
    }

    /// Nothing arrived within the step's time.
    pub fn on_timeout(&mut self) {
        let (target, during, ms, greeted) =
            match std::mem::replace(&mut self.state, State::Finished) {
                State::AwaitConnect(t) => {
                    (t, "the TCP connect", self.options.limits.connect_ms, false)
                }
                State::Dialogue(t, d, _) => {
                    let during = if d.greeted() {
                        "a reply"
                    } else {
                        "the greeting"
                    };
                    (t, during, self.options.limits.reply_ms, d.greeted())
                }
                State::AwaitTls(t) => (t, "the TLS handshake", self.options.limits.tls_ms, true),
                State::Quitting(..) => {
                    self.state = State::Next;
                    return;
                }
                other => {
                    self.state = other;
                    return;
                }
            };
        let e = ConnectError::Timeout {
            during: during.to_string(),
            ms,
        };
        self.on_unreachable(target, e.into(), greeted);
    }

    /// The TLS handshake completed: `chain` is what the peer presented (leaf first). The core
    /// verifies it for the MX host actually dialled, at the current time (RFC 8461 §4.2), before
    /// a single byte of mail is sent.
    pub fn on_tls(
        &mut self,
        chain: &[Vec<u8>],
        anchors: &TrustAnchors,
        host_crypto: Option<&dyn SignatureHost>,
        version: &str,
        cipher: Option<&str>,
    ) -> Option<Step> {
        let target = self.take_tls()?;
        let host = self.candidates[target.candidate].host.clone();
        let certificate = verify_chain(chain, &host, self.now / 1000, anchors, host_crypto);
        self.on_tls_verdict(target, certificate, version, cipher)
    }

    /// As [`Delivery::on_tls`] with the §4.2 verdict already made by [`verify_chain`] (tests).
    pub fn on_tls_verified(&mut self, certificate: Result<(), Error>, version: &str) {
        if let Some(target) = self.take_tls() {
            self.on_tls_verdict(target, certificate, version, None);
        }
    }

    fn on_tls_verdict(
        &mut self,
        target: Target,
        certificate: Result<(), Error>,
        version: &str,
        cipher: Option<&str>,
    ) -> Option<Step> {
        let tls = Some((version.to_string(), cipher.map(str::to_string)));
        self.judged(target, TlsResult::Secured { certificate }, tls)
    }

    /// The TLS handshake failed (alert, timeout, garbage): `detail` is the host's word for it.
    pub fn on_tls_failed(&mut self, detail: &str) {
        let Some(target) = self.take_tls() else {
            return;
        };
        self.sessions += 1;
        let i = target.candidate;
        let j = judge(
            self.mode(),
            &self.candidates[i],
            TlsResult::HandshakeFailed {
                detail: detail.to_string(),
            },
            self.options.require_tls,
        );
        self.record(
            i,
            Some(&target.address),
            &j.verdict,
            j.failure.as_ref(),
            false,
            Seen {
                starttls: Some(true),
                ..Seen::default()
            },
        );
        // The host destroyed the connection with the failed handshake.
        self.open = false;
        if self.probe.is_none() {
            self.retry_plaintext.push(target);
        }
        self.state = State::Next;
    }

    fn take_connect(&mut self) -> Option<Target> {
        if !matches!(self.state, State::AwaitConnect(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, State::Next) {
            State::AwaitConnect(t) => Some(t),
            _ => None,
        }
    }

    fn take_tls(&mut self) -> Option<Target> {
        if !matches!(self.state, State::AwaitTls(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, State::Next) {
            State::AwaitTls(t) => Some(t),
            _ => None,
        }
    }

    /// `greeted`: the server's greeting came, so this was an SMTP session (the session limit).
    fn on_unreachable(&mut self, target: Target, error: Error, greeted: bool) {
        let i = target.candidate;
        if greeted {
            self.sessions += 1;
        }
        let tls_refused = matches!(error, Error::Smtp(SmtpError::StartTlsRefused { .. }));
        // STARTTLS was offered when the server answered it (refused, or bytes injected after 220).
        let offered = matches!(
            error,
            Error::Smtp(SmtpError::StartTlsRefused { .. } | SmtpError::DataBeforeTls { .. })
        );
        let j = judge(
            self.mode(),
            &self.candidates[i],
            TlsResult::Unreachable { error },
            self.options.require_tls,
        );
        self.record(
            i,
            Some(&target.address),
            &j.verdict,
            j.failure.as_ref(),
            false,
            Seen {
                starttls: offered.then_some(true),
                ..Seen::default()
            },
        );
        if tls_refused && !self.plaintext_pass && self.probe.is_none() {
            self.retry_plaintext.push(target);
        }
        self.state = State::Next;
    }

    /// Applies the §5 verdict to a finished dialogue; Some(Ready) when mail may go here.
    fn judged(
        &mut self,
        target: Target,
        tls: TlsResult,
        tls_info: Option<(String, Option<String>)>,
    ) -> Option<Step> {
        self.sessions += 1;
        let i = target.candidate;
        let secured = matches!(tls, TlsResult::Secured { .. });
        let cert_ok = matches!(
            tls,
            TlsResult::Secured {
                certificate: Ok(())
            }
        );
        let certificate = match &tls {
            TlsResult::Secured { certificate } => Some(CertificateVerdict {
                ok: certificate.is_ok(),
                code: certificate.as_ref().err().map(|e| e.code_str().to_string()),
                message: certificate.as_ref().err().map(|e| e.to_string()),
                tlsrpt: certificate
                    .as_ref()
                    .err()
                    .map(|e| e.tlsrpt_result().to_string()),
            }),
            _ => None,
        };
        let j = judge(
            self.mode(),
            &self.candidates[i],
            tls,
            self.options.require_tls,
        );
        let fallback = self.plaintext_pass;
        let version = tls_info.as_ref().map(|(v, _)| v.clone());
        // The plaintext retry delivers; its TLS failure was recorded on the first try.
        let failure = j
            .failure
            .as_ref()
            .filter(|_| !(fallback && j.verdict != Verdict::TryNext));
        let seen = Seen {
            // A plaintext retry does not ask for STARTTLS: what the server offers is not seen.
            starttls: (!fallback).then_some(secured),
            tls_version: version.clone(),
            cipher: tls_info.as_ref().and_then(|(_, c)| c.clone()),
            certificate: certificate.clone(),
        };
        self.record(
            i,
            Some(&target.address),
            &j.verdict,
            failure,
            fallback,
            seen,
        );
        if self.probe.is_some() {
            // RFC 5321 §4.1.1.10: the probe says QUIT (never MAIL) and waits briefly for the 221.
            self.state = State::Quitting(
                self.now
                    .saturating_add(QUIT_WAIT_MS.min(self.options.limits.reply_ms)),
                false,
            );
            return None;
        }
        if j.verdict == Verdict::TryNext {
            self.state = State::Next;
            return None;
        }
        let mx = self.candidates[i].clone();
        let trace = TraceFacts {
            result: if cert_ok {
                "verified"
            } else if secured {
                "unverified"
            } else {
                "plaintext"
            },
            policy_domain: self.domain.clone(),
            mode: self.mode_str(),
            policy_id: self.policy_id.clone(),
            mx: mx.host.clone(),
            tls_version: version.clone(),
        };
        let ready = Ready {
            mx,
            address: target.address,
            port: self.options.port,
            verdict: j.verdict,
            tls_version: version,
            cipher: tls_info.and_then(|(_, c)| c),
            certificate,
            trace,
            greeting: std::mem::take(&mut self.greeting),
            ehlo: std::mem::take(&mut self.ehlo),
        };
        let step = Step::Ready(ready);
        self.finished = Some(step.clone());
        self.state = State::Finished;
        Some(step)
    }

    fn record(
        &mut self,
        i: usize,
        address: Option<&str>,
        verdict: &Verdict,
        failure: Option<&Error>,
        fallback: bool,
        seen: Seen,
    ) {
        let c = &self.candidates[i];
        let Seen {
            starttls,
            tls_version,
            cipher,
            certificate,
        } = seen;
        // Probe under enforce, a host outside the policy: shown, not judged (§5: never dialled).
        let excluded = self.probe == Some(true);
        let (verdict, failure) = if excluded {
            (&Verdict::Excluded, None)
        } else {
            (verdict, failure)
        };
        self.attempts.push(Attempt {
            host: c.host.clone(),
            address: address.map(str::to_string),
            port: self.options.port,
            result: failure.map_or_else(
                || {
                    if fallback {
                        "plaintext-fallback".into()
                    } else {
                        "success".into()
                    }
                },
                |e| e.code_str().to_string(),
            ),
            tlsrpt: if fallback {
                None
            } else {
                failure.map(|e| e.tlsrpt_result().to_string())
            },
            message: failure.map(|e| e.to_string()),
            temporary: failure.is_some_and(Error::is_temporary),
            mode: self.mode_str(),
            verdict: verdict.clone(),
            secured: tls_version.is_some(),
            tls_version,
            fallback,
            detail: match failure {
                Some(Error::Connect(c)) => c.detail().map(str::to_string),
                _ => None,
            },
            starttls,
            cipher,
            certificate,
            rfc: failure.map(Error::rfc).filter(|r| !r.is_empty()),
            sending_ip: address.and(self.sending_ip.clone()),
        });
    }

    fn finish_failed(&mut self, error: Error) -> Step {
        let mx = self.attempts.last().map(|a| a.host.clone());
        // The reason shown is the last attempt's own failure when there is one: it says what
        // went wrong with the MX (the summary "no MX could be used" says nothing).
        let shown = match (
            &error,
            self.attempts.iter().rev().find(|a| a.result != "success"),
        ) {
            (Error::Delivery(DeliveryError::AllFailed { temporary, .. }), Some(last)) => {
                Error::Host {
                    code: last.result.clone(),
                    message: last.message.clone().unwrap_or_default(),
                    temporary: *temporary,
                    tlsrpt: last.tlsrpt.clone().unwrap_or_default(),
                }
            }
            _ => error.clone(),
        };
        let reply = failure_reply(&self.domain, self.mode_str(), mx.as_deref(), &shown);
        let mut message = error.to_string();
        if matches!(
            error,
            Error::Delivery(
                DeliveryError::AllFailed { .. } | DeliveryError::DeadlineExceeded { .. }
            )
        ) {
            let each: Vec<String> = self
                .attempts
                .iter()
                .map(|a| match &a.address {
                    Some(address) => format!("{} ({address}): {}", a.host, a.result),
                    None => format!("{}: {}", a.host, a.result),
                })
                .collect();
            message = format!("{message}: {}", each.join("; "));
        }
        let step = Step::Done(Failure {
            error,
            reply,
            mx,
            message,
        });
        self.open = false;
        self.finished = Some(step.clone());
        self.state = State::Finished;
        step
    }
}

/// `192.0.2.1:25`, `[2001:db8::1]:25`.
fn address_text(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Serialised for the JS host as `{ step: "resolve-mx", name }`, `{ step: "send", data }` (bytes),
/// `{ step: "ready", ready }`, `{ step: "done", failure }`, ...
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Bytes<'a>(&'a [u8]);
        impl Serialize for Bytes<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        let mut m = s.serialize_map(None)?;
        match self {
            Step::ResolveMx { name } => {
                m.serialize_entry("step", "resolve-mx")?;
                m.serialize_entry("name", name)?;
            }
            Step::ResolveAddresses { host } => {
                m.serialize_entry("step", "resolve-addresses")?;
                m.serialize_entry("host", host)?;
            }
            Step::Connect {
                host,
                address,
                port,
                timeout_ms,
                local_address,
            } => {
                m.serialize_entry("step", "connect")?;
                m.serialize_entry("host", host)?;
                m.serialize_entry("address", address)?;
                m.serialize_entry("port", port)?;
                m.serialize_entry("timeoutMs", timeout_ms)?;
                m.serialize_entry("localAddress", local_address)?;
            }
            Step::Send(data) => {
                m.serialize_entry("step", "send")?;
                m.serialize_entry("data", &Bytes(data))?;
            }
            Step::Read { timeout_ms } => {
                m.serialize_entry("step", "read")?;
                m.serialize_entry("timeoutMs", timeout_ms)?;
            }
            Step::StartTls {
                server_name,
                timeout_ms,
            } => {
                m.serialize_entry("step", "starttls")?;
                m.serialize_entry("serverName", server_name)?;
                m.serialize_entry("timeoutMs", timeout_ms)?;
            }
            Step::Close => m.serialize_entry("step", "close")?,
            Step::Ready(r) => {
                m.serialize_entry("step", "ready")?;
                m.serialize_entry("ready", r)?;
            }
            Step::Done(f) => {
                m.serialize_entry("step", "done")?;
                m.serialize_entry("failure", f)?;
            }
            Step::Probed => m.serialize_entry("step", "probed")?,
        }
        m.end()
    }
}
