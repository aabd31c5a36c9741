//! Bindings of the delivery machine ([`crate::delivery::Delivery`]), the SMTP client
//! ([`crate::smtp::SmtpClient`]) and the relay's replies: argument conversion only. Host answers
//! come in as typed values and bytes; steps go out as plain objects (bytes as `Uint8Array`).

use super::{bad_argument, js_error, seconds, to_value, JsTrustStore};
use crate::delivery::{
    self, AddressAnswer, AddressRules, Family, Limits, MxAnswer, MxRecord, Options,
};
use crate::smtp::{self, Command};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn ms(n: Option<f64>, default: u64) -> u64 {
    n.map_or(default, |v| seconds(v).max(1))
}

/// The default limits with the times the host gave (undefined: the core's default).
fn times(
    deadline_ms: Option<f64>,
    connect_ms: Option<f64>,
    reply_ms: Option<f64>,
    tls_ms: Option<f64>,
) -> Limits {
    let d = Limits::default();
    Limits {
        deadline_ms: ms(deadline_ms, d.deadline_ms),
        connect_ms: ms(connect_ms, d.connect_ms),
        reply_ms: ms(reply_ms, d.reply_ms),
        tls_ms: ms(tls_ms, d.tls_ms),
        ..d
    }
}

/// The applying policy from the resolver's object (`{ mode, maxAge, mx, ... }`) or null.
fn policy_of(
    policy: JsValue,
    policy_id: Option<String>,
) -> Result<Option<(crate::Policy, Option<String>)>, JsValue> {
    if policy.is_null() || policy.is_undefined() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_wasm_bindgen::from_value(policy)
        .map_err(|_| bad_argument("expected a policy object or null"))?;
    let p = crate::policy::policy_from_json(&value).map_err(|e| js_error(&e))?;
    Ok(Some((p, policy_id)))
}

/// One delivery (see src/delivery/machine.rs for each step's contract).
#[wasm_bindgen(js_name = Delivery)]
pub struct JsDelivery(delivery::Delivery);

#[wasm_bindgen(js_class = Delivery)]
impl JsDelivery {
    /// `policy`: the applying policy (found or cached: `{ mode, maxAge, mx, ... }` as the resolver
    /// returns it) or null; `policy_id` its TXT id.
    /// Limits left undefined take the core's defaults.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(constructor)]
    pub fn new(
        domain: &str,
        policy: JsValue,
        policy_id: Option<String>,
        helo_name: &str,
        port: u16,
        require_tls: bool,
        max_addresses: Option<u32>,
        max_sessions: Option<u32>,
        deadline_ms: Option<f64>,
        connect_ms: Option<f64>,
        reply_ms: Option<f64>,
        tls_ms: Option<f64>,
    ) -> Result<JsDelivery, JsValue> {
        let policy = policy_of(policy, policy_id)?;
        let d = Limits::default();
        let limits = Limits {
            max_addresses: max_addresses.map_or(d.max_addresses, |n| n.max(1) as usize),
            max_sessions: max_sessions.map_or(d.max_sessions, |n| n.max(1) as usize),
            ..times(deadline_ms, connect_ms, reply_ms, tls_ms)
        };
        let options = Options {
            helo_name: helo_name.into(),
            port,
            require_tls,
            limits,
        };
        delivery::Delivery::new(domain, policy, options)
            .map(JsDelivery)
            .map_err(|e| js_error(&e))
    }

    /// A probe of one MX host (see [`crate::delivery::Delivery::probe`]): every address, QUIT,
    /// never mail; ends with `{ step: "probed" }` and the attempts.
    #[allow(clippy::too_many_arguments)]
    pub fn probe(
        domain: &str,
        policy: JsValue,
        policy_id: Option<String>,
        host: &str,
        helo_name: &str,
        port: u16,
        deadline_ms: Option<f64>,
        connect_ms: Option<f64>,
        reply_ms: Option<f64>,
        tls_ms: Option<f64>,
    ) -> Result<JsDelivery, JsValue> {
        let policy = policy_of(policy, policy_id)?;
        let limits = times(deadline_ms, connect_ms, reply_ms, tls_ms);
        let options = Options {
            helo_name: helo_name.into(),
            port,
            require_tls: false,
            limits,
        };
        delivery::Delivery::probe(domain, policy, host, options)
            .map(JsDelivery)
            .map_err(|e| js_error(&e))
    }

    /// The address rules (see [`crate::delivery::AddressRules`]): `allow_private` dials
    /// special-purpose ranges (RFC 6890), `family` one of `any`, `prefer-ipv4`, `prefer-ipv6`,
    /// `ipv4-only`, `ipv6-only`, `local_addresses` at most one numeric address per family.
    /// Before the first poll.
    #[wasm_bindgen(js_name = setAddressRules)]
    pub fn set_address_rules(
        &mut self,
        allow_private: bool,
        family: &str,
        local_addresses: Vec<String>,
    ) -> Result<(), JsValue> {
        let family = Family::from_name(family).ok_or_else(|| {
            bad_argument("family must be any, prefer-ipv4, prefer-ipv6, ipv4-only or ipv6-only")
        })?;
        let rules = AddressRules {
            allow_private,
            family,
            ..AddressRules::default()
        }
        .with_local(&local_addresses)
        .map_err(|m| bad_argument(&m))?;
        self.0.set_address_rules(rules);
        Ok(())
    }

    /// MX records the caller has, instead of the lookup (see
    /// [`crate::delivery::Delivery::give_mx`]); `addresses[i]` is an array of numeric addresses
    /// for record i, or null to look them up. Before the first poll.
    #[wasm_bindgen(js_name = giveMx)]
    pub fn give_mx(
        &mut self,
        exchanges: Vec<String>,
        priorities: Vec<u16>,
        addresses: js_sys::Array,
    ) -> Result<(), JsValue> {
        let mut given = Vec::with_capacity(exchanges.len());
        for i in 0..exchanges.len() {
            let a = addresses.get(i as u32);
            if a.is_null() || a.is_undefined() {
                given.push(None);
                continue;
            }
            let list: Vec<String> = serde_wasm_bindgen::from_value(a)
                .map_err(|_| bad_argument("mx[].addresses must be an array of strings"))?;
            given.push(Some(list));
        }
        let records = exchanges
            .into_iter()
            .zip(priorities.into_iter().chain(std::iter::repeat(0)))
            .map(|(exchange, priority)| MxRecord { exchange, priority })
            .collect();
        self.0.give_mx(records, given);
        Ok(())
    }

    pub fn poll(&mut self, now: f64) -> Result<JsValue, JsValue> {
        to_value(&self.0.poll(seconds(now)))
    }

    /// How many attempts are recorded so far (a host reports each new one as it ends).
    #[wasm_bindgen(getter, js_name = attemptCount)]
    pub fn attempt_count(&self) -> u32 {
        self.0.attempts().len() as u32
    }

    /// Attempt `i` (0-based, in order), or undefined.
    #[wasm_bindgen(js_name = attemptAt)]
    pub fn attempt_at(&self, i: u32) -> Result<JsValue, JsValue> {
        match self.0.attempts().get(i as usize) {
            Some(a) => to_value(a),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    #[wasm_bindgen(js_name = onMx)]
    pub fn on_mx(&mut self, exchanges: Vec<String>, priorities: Vec<u16>) {
        let records = exchanges
            .into_iter()
            .zip(priorities.into_iter().chain(std::iter::repeat(0)))
            .map(|(exchange, priority)| MxRecord { exchange, priority })
            .collect();
        self.0.on_mx(MxAnswer::Records(records));
    }

    /// `kind`: "nodata", "nxdomain" or "temporary" (with the resolver's code as `detail`).
    #[wasm_bindgen(js_name = onMxFailed)]
    pub fn on_mx_failed(&mut self, kind: &str, detail: &str) {
        self.0.on_mx(match kind {
            "nodata" => MxAnswer::NoRecords,
            "nxdomain" => MxAnswer::NxDomain,
            _ => MxAnswer::Temporary(detail.into()),
        });
    }

    #[wasm_bindgen(js_name = onAddresses)]
    pub fn on_addresses(&mut self, addresses: Vec<String>) {
        self.0.on_addresses(AddressAnswer::Addresses(addresses));
    }

    /// `kind`: "nodata", "nxdomain" or "temporary".
    #[wasm_bindgen(js_name = onAddressesFailed)]
    pub fn on_addresses_failed(&mut self, kind: &str, detail: &str) {
        self.0.on_addresses(match kind {
            "nodata" => AddressAnswer::NoAddresses(detail.into()),
            "nxdomain" => AddressAnswer::NxDomain,
            _ => AddressAnswer::Temporary(detail.into()),
        });
    }

    #[wasm_bindgen(js_name = onConnected)]
    /// `localAddress`: our end of the connection (RFC 8460 §4.4 `sending-mta-ip`), if known.
    pub fn on_connected(&mut self, local_address: Option<String>) {
        self.0.on_connected(local_address.as_deref());
    }

    #[wasm_bindgen(js_name = onConnectFailed)]
    pub fn on_connect_failed(&mut self, detail: &str) {
        self.0.on_connect_failed(detail);
    }

    #[wasm_bindgen(js_name = onData)]
    pub fn on_data(&mut self, data: &[u8]) {
        self.0.on_data(data);
    }

    #[wasm_bindgen(js_name = onClose)]
    pub fn on_close(&mut self) {
        self.0.on_close();
    }

    #[wasm_bindgen(js_name = onTimeout)]
    pub fn on_timeout(&mut self) {
        self.0.on_timeout();
    }

    /// The peer chain (DER `Uint8Array`s, leaf first) after the handshake; the core verifies it.
    #[wasm_bindgen(js_name = onTls)]
    pub fn on_tls(
        &mut self,
        chain: js_sys::Array,
        store: &JsTrustStore,
        host_crypto: bool,
        version: &str,
        cipher: Option<String>,
    ) -> Result<(), JsValue> {
        let ders = super::chain_of(&chain)?;
        self.0.on_tls(
            &ders,
            &store.0,
            super::signature_host(host_crypto),
            version,
            cipher.as_deref(),
        );
        Ok(())
    }

    #[wasm_bindgen(js_name = onTlsFailed)]
    pub fn on_tls_failed(&mut self, detail: &str) {
        self.0.on_tls_failed(detail);
    }

    pub fn attempts(&self) -> Result<JsValue, JsValue> {
        to_value(&self.0.attempts())
    }

    #[wasm_bindgen(getter, js_name = policyType)]
    pub fn policy_type(&self) -> String {
        self.0.policy_type().into()
    }

    #[wasm_bindgen(getter)]
    pub fn mode(&self) -> Option<String> {
        self.0.mode_str().map(str::to_string)
    }

    #[wasm_bindgen(getter)]
    pub fn domain(&self) -> String {
        self.0.domain().into()
    }
}

/// The SMTP client after the greeting (see src/smtp/client.rs).
#[wasm_bindgen(js_name = SmtpClient)]
pub struct JsSmtpClient(smtp::SmtpClient);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnswerOut<'a> {
    command: &'static str,
    code: u16,
    lines: &'a [String],
    enhanced: Option<&'a str>,
    meaning: &'static str,
    /// EHLO keywords with their parameters, for a 250 to EHLO.
    keywords: Option<Vec<(String, Vec<String>)>>,
}

#[wasm_bindgen(js_class = SmtpClient)]
impl JsSmtpClient {
    #[wasm_bindgen(constructor)]
    pub fn new() -> JsSmtpClient {
        JsSmtpClient(smtp::SmtpClient::new())
    }

    /// The bytes to write for `command` ("ehlo", "helo", "mail", "rcpt", "data", "end-of-data",
    /// "rset", "noop", "quit") with `arg`; throws for a command out of turn or a bad argument.
    pub fn command(&mut self, command: &str, arg: &str) -> Result<Vec<u8>, JsValue> {
        let c = Command::from_name(command).ok_or_else(|| bad_argument("unknown smtp command"))?;
        self.0.command(c, arg).map_err(|e| js_error(&e))
    }

    /// The answer to the waiting command once complete, else null; throws when the session is
    /// over (out of step, not SMTP, an unexpected reply).
    #[wasm_bindgen(js_name = onData)]
    pub fn on_data(&mut self, data: &[u8]) -> Result<JsValue, JsValue> {
        match self.0.on_data(data).map_err(|e| js_error(&e))? {
            None => Ok(JsValue::NULL),
            Some(a) => to_value(&AnswerOut {
                command: a.command.name(),
                code: a.reply.code,
                lines: &a.reply.lines,
                enhanced: smtp::enhanced_code(&a.reply),
                meaning: match a.meaning {
                    smtp::Meaning::Accepted => "accepted",
                    smtp::Meaning::SendData => "send-data",
                    smtp::Meaning::Transient => "transient",
                    smtp::Meaning::Permanent => "permanent",
                },
                keywords: (a.command == Command::Ehlo && a.meaning == smtp::Meaning::Accepted)
                    .then(|| smtp::ehlo_keywords(&a.reply)),
            }),
        }
    }

    /// The connection ended: the error for the waiting command (an `MtaStsError`).
    #[wasm_bindgen(js_name = onClose)]
    pub fn on_close(&mut self) -> JsValue {
        js_error(&self.0.on_close())
    }

    #[wasm_bindgen(getter)]
    pub fn waiting(&self) -> Option<String> {
        self.0.waiting().map(|c| c.name().to_string())
    }
}

impl Default for JsSmtpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// The MX's reply passed on to the local MTA (see [`crate::relay::mirror_reply`]).
#[wasm_bindgen(js_name = relayMirrorReply)]
pub fn relay_mirror_reply(code: u16, lines: Vec<String>, mx: &str) -> Result<JsValue, JsValue> {
    to_value(&crate::relay::mirror_reply(
        &smtp::Reply { code, lines },
        mx,
    ))
}

/// The relay's own replies at the end of DATA (see [`crate::relay::Notice`]): `kind` is
/// "already-delivered", "in-flight", "incomplete", "needs-smtputf8" (detail: the MX),
/// "too-big" (limit), "journal-failed" (detail), and the session's own: "aborted",
/// "shutting-down", "not-allowed" (detail: the client), "need-mail", "auth-disabled",
/// "auth-needs-tls", "auth-failed", "auth-temporary" (detail), "internal-error".
#[wasm_bindgen(js_name = relayNotice)]
pub fn relay_notice(kind: &str, detail: &str, limit: f64) -> Result<JsValue, JsValue> {
    use crate::relay::Notice;
    let notice = match kind {
        "already-delivered" => Notice::AlreadyDelivered,
        "in-flight" => Notice::InFlight,
        "incomplete" => Notice::Incomplete,
        "needs-smtputf8" => Notice::NeedsSmtpUtf8 { mx: detail.into() },
        "too-big" => Notice::TooBig {
            limit: seconds(limit),
        },
        "journal-failed" => Notice::JournalFailed {
            detail: detail.into(),
        },
        "aborted" => Notice::Aborted,
        "shutting-down" => Notice::ShuttingDown,
        "not-allowed" => Notice::NotAllowed {
            client: detail.into(),
        },
        "need-mail" => Notice::NeedMail,
        "auth-disabled" => Notice::AuthDisabled,
        "auth-needs-tls" => Notice::AuthNeedsTls,
        "auth-failed" => Notice::AuthFailed,
        "auth-temporary" => Notice::AuthTemporary {
            detail: detail.into(),
        },
        "internal-error" => Notice::InternalError,
        _ => return Err(bad_argument("unknown relay notice")),
    };
    to_value(&crate::relay::notice_reply(&notice))
}

/// The trace header for a ready delivery (`ready.trace` from the machine), or a bad-name error.
#[wasm_bindgen(js_name = deliveryTraceHeader)]
pub fn delivery_trace_header(
    name: &str,
    result: &str,
    policy_domain: &str,
    mode: Option<String>,
    policy_id: Option<String>,
    mx: &str,
    tls_version: Option<String>,
) -> Result<String, JsValue> {
    let trace = crate::relay::Trace {
        result,
        policy_domain,
        mode: mode.as_deref(),
        policy_id: policy_id.as_deref(),
        mx,
        tls_version: tls_version.as_deref(),
    };
    crate::relay::trace_header(name, &trace).ok_or_else(|| {
        bad_argument("the header name must be printable ASCII without spaces or \":\"")
    })
}

/// The recipient domain of an address for the relay, or why it cannot be routed (permanent):
/// `recipient-no-domain`, `recipient-address-literal`, `domain-invalid`.
/// Throws `recipient-other-domain` (or why the address has no domain) unless `address` is in
/// `domain` (see [`crate::relay::check_recipient_domain`]).
#[wasm_bindgen(js_name = checkRecipientDomain)]
pub fn check_recipient_domain(address: &str, domain: &str) -> Result<(), JsValue> {
    crate::relay::check_recipient_domain(address, domain).map_err(|e| js_error(&e))
}

#[wasm_bindgen(js_name = recipientDomain)]
pub fn recipient_domain(address: &str) -> Result<String, JsValue> {
    crate::relay::recipient_domain(address).map_err(|e| js_error(&e))
}

/// The reply for a recipient the relay cannot route (from `recipientDomain`'s error code).
#[wasm_bindgen(js_name = recipientFailureReply)]
pub fn recipient_failure_reply(address: &str) -> Result<JsValue, JsValue> {
    match crate::relay::recipient_domain(address) {
        Ok(_) => Ok(JsValue::NULL),
        Err(e) => to_value(&crate::relay::failure_reply(
            &crate::relay::shown_domain(address),
            None,
            None,
            &e,
        )),
    }
}

/// Every error code with its RFC 8460 result type, temporariness and RFC section (src/codes.rs).
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> Result<JsValue, JsValue> {
    to_value(&crate::codes::catalogue())
}

/// Throws `smtp-helo-invalid` unless `name` can be given in EHLO (RFC 5321 §4.1.1.1; no spaces or
/// control characters, which would inject a command).
#[wasm_bindgen(js_name = checkHeloName)]
pub fn check_helo_name(name: &str) -> Result<(), JsValue> {
    crate::smtp::StartTls::new(name)
        .map(|_| ())
        .map_err(|e| js_error(&e))
}

#[derive(Serialize)]
struct SpecialRangeJs {
    kind: &'static str,
    rfc: &'static str,
}

/// The special-purpose range (RFC 6890) a numeric address is in, as `{ kind, rfc }`, or null for a
/// globally reachable unicast address ([`crate::delivery::address::special_range`]); the same
/// table the machine's address rules use, for `mtasts serve`'s target check.
#[wasm_bindgen(js_name = specialAddressRange)]
pub fn special_address_range(address: &str) -> Result<JsValue, JsValue> {
    let ip: std::net::IpAddr = address
        .parse()
        .map_err(|_| bad_argument("address must be a numeric IPv4 or IPv6 address"))?;
    match delivery::address::special_range(ip) {
        None => Ok(JsValue::NULL),
        Some(r) => to_value(&SpecialRangeJs {
            kind: r.kind,
            rfc: r.rfc,
        }),
    }
}
