//! Bindings of the socketmap core (src/socketmap/): argument conversion only.

use super::{bad_argument, js_error, to_value};
use crate::delivery::MxRecord;
use crate::socketmap::{self, Fed, MxAnswer, NetstringDecoder, Prepared, ZoneOptions};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// One connection's incoming netstrings (see src/socketmap/netstring.rs). Every error it throws
/// (`socketmap-netstring-*`, `socketmap-request-too-large`) means: close this connection.
#[wasm_bindgen(js_name = NetstringDecoder)]
pub struct JsNetstringDecoder(NetstringDecoder, Vec<Vec<u8>>);

/// In `feed`'s answer: a request whose data is `held(i)` (it began in earlier bytes).
const HELD: u32 = u32::MAX;

#[wasm_bindgen(js_class = NetstringDecoder)]
impl JsNetstringDecoder {
    #[wasm_bindgen(constructor)]
    pub fn new(max_request: Option<u32>) -> JsNetstringDecoder {
        JsNetstringDecoder(
            NetstringDecoder::new(
                max_request.map_or(socketmap::DEFAULT_MAX_REQUEST, |m| m as usize),
            ),
            Vec::new(),
        )
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }

    /// `NetstringDecoder::feed` flattened: `[flags, start0, end0, start1, end1, …]`, each pair
    /// `bytes[start..end]` of one complete request, or `(0xFFFFFFFF, i)`: its data is `held(i)`.
    /// flags bit 0: a framing error came after these requests (answer them; `finish()` throws
    /// it); bit 1: a request has begun and not ended (`inRequest()`).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u32> {
        let fed = self.0.feed(bytes);
        self.1.clear();
        let flags = u32::from(fed.error.is_some()) | (u32::from(self.0.in_request()) << 1);
        let mut out = Vec::with_capacity(1 + 2 * fed.requests.len());
        out.push(flags);
        for r in fed.requests {
            match r {
                Fed::InChunk { start, end } => out.extend([start as u32, end as u32]),
                Fed::Held(data) => {
                    out.extend([HELD, self.1.len() as u32]);
                    self.1.push(data);
                }
            }
        }
        out
    }

    /// The data of the `i`-th held request of the last `feed`.
    pub fn held(&self, i: u32) -> Option<Vec<u8>> {
        self.1.get(i as usize).cloned()
    }

    /// The next request's data, or undefined when more bytes are needed.
    #[wasm_bindgen(js_name = nextRequest)]
    pub fn next_request(&mut self) -> Result<Option<Vec<u8>>, JsValue> {
        self.0.next_request().map_err(|e| js_error(&e.into()))
    }

    /// The peer closed: throws when it did so inside a netstring.
    pub fn finish(&self) -> Result<(), JsValue> {
        self.0.finish().map_err(|e| js_error(&e.into()))
    }

    #[wasm_bindgen(js_name = inRequest)]
    pub fn in_request(&self) -> bool {
        self.0.in_request()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreparedOut<'a> {
    map: Option<&'a str>,
    key: Option<&'a str>,
    domain: Option<&'a str>,
    answer: Option<&'a socketmap::Answer>,
}

/// `{ map, key, domain, answer }`: `domain` to look up, or `answer` already made.
#[wasm_bindgen(js_name = socketmapRequest)]
pub fn socketmap_request(data: &[u8]) -> Result<JsValue, JsValue> {
    match socketmap::prepare(data) {
        Prepared::Lookup { map, key, domain } => to_value(&PreparedOut {
            map: Some(&map),
            key: Some(&key),
            domain: Some(&domain),
            answer: None,
        }),
        Prepared::Answered { map, key, answer } => to_value(&PreparedOut {
            map: map.as_deref(),
            key: key.as_deref(),
            domain: None,
            answer: Some(&answer),
        }),
    }
}

fn policy_of(policy: JsValue) -> Result<Option<crate::Policy>, JsValue> {
    if policy.is_null() || policy.is_undefined() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_wasm_bindgen::from_value(policy)
        .map_err(|_| bad_argument("expected a policy object or null"))?;
    crate::policy::policy_from_json(&value)
        .map(Some)
        .map_err(|e| js_error(&e))
}

fn zone(strict_testing: bool, sts_attributes: bool) -> ZoneOptions {
    ZoneOptions {
        strict_testing,
        sts_attributes,
    }
}

#[wasm_bindgen(js_name = socketmapNeedsMx)]
pub fn socketmap_needs_mx(policy: JsValue, strict_testing: bool) -> Result<bool, JsValue> {
    let policy = policy_of(policy)?;
    Ok(socketmap::needs_mx(
        policy.as_ref(),
        &zone(strict_testing, false),
    ))
}

/// `{ reply, class, reason, match, mode }`. `mxKind`: "" (not looked up), "records" (with
/// `exchanges` and `priorities`), "none" (NXDOMAIN or no MX), "temporary" or "timeout" (with the
/// resolver's code as `detail`).
#[wasm_bindgen(js_name = socketmapAnswer)]
#[allow(clippy::too_many_arguments)]
pub fn socketmap_answer(
    domain: &str,
    policy: JsValue,
    ttl: f64,
    strict_testing: bool,
    sts_attributes: bool,
    mx_kind: &str,
    exchanges: Vec<String>,
    priorities: Vec<u16>,
    detail: &str,
) -> Result<JsValue, JsValue> {
    let policy = policy_of(policy)?;
    let mx = match mx_kind {
        "" => None,
        "records" => Some(MxAnswer::Records(
            exchanges
                .into_iter()
                .zip(priorities.into_iter().chain(std::iter::repeat(0)))
                .map(|(exchange, priority)| MxRecord { exchange, priority })
                .collect(),
        )),
        "none" => Some(MxAnswer::NoRecords),
        "temporary" | "timeout" => Some(MxAnswer::Temporary {
            detail: detail.to_string(),
            timeout: mx_kind == "timeout",
        }),
        _ => {
            return Err(bad_argument(
                "mxKind must be '', records, none, temporary or timeout",
            ))
        }
    };
    let ttl = if ttl.is_finite() && ttl > 0.0 {
        ttl as u64
    } else {
        0
    };
    let answer = socketmap::answer(
        domain,
        policy.as_ref(),
        ttl,
        &zone(strict_testing, sts_attributes),
        mx.as_ref(),
    );
    to_value(&answer)
}

/// The reply text framed as a netstring; throws `socketmap-reply-too-large` past 100000 bytes.
#[wasm_bindgen(js_name = encodeSocketmapReply)]
pub fn encode_socketmap_reply(text: &str) -> Result<Vec<u8>, JsValue> {
    socketmap::encode(text.as_bytes()).map_err(|e| js_error(&e.into()))
}
