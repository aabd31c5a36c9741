//! WebAssembly bindings: thin shims only. Each function converts its arguments, calls the core,
//! and converts the result; results cross as JSON (one string, parsed by the JS engine), errors
//! as `MtaStsError` built by `js/error.js`. Nothing here decides anything about MTA-STS.

use crate::{diagnostic::Diagnostic, mx, policy, record, Error};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[cfg(feature = "verify")]
mod delivery;
#[cfg(feature = "verify")]
mod socketmap;
mod tlsrpt_record;
#[cfg(feature = "verify")]
mod tlsrpt_report;

#[wasm_bindgen(module = "/js/error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeMtaStsError)]
    fn make_error(
        code: &str,
        message: &str,
        problem: Option<String>,
        line: Option<u32>,
        column: Option<u32>,
        rfc: Option<String>,
        tlsrpt: Option<String>,
        temporary: bool,
    ) -> JsValue;
}

fn js_error(e: &Error) -> JsValue {
    let d: Option<&Diagnostic> = e.diagnostic();
    let line = d.map(|d| d.line).filter(|&l| l > 0);
    let column = d.map(|d| d.column).filter(|&c| c > 0);
    let rfc = Some(e.rfc().to_string()).filter(|r| !r.is_empty());
    make_error(
        e.code(),
        &e.to_string(),
        d.map(|d| d.code.to_string()),
        line,
        column,
        rfc,
        Some(e.tlsrpt_result().to_string()),
        e.is_temporary(),
    )
}

fn bad_argument(message: &str) -> JsValue {
    make_error(
        "invalid-argument",
        message,
        None,
        None,
        None,
        None,
        None,
        false,
    )
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(|e| bad_argument(&e.to_string()))?;
    js_sys::JSON::parse(&json)
}

fn from_js<T: serde::de::DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    let json: String = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| bad_argument(what))?;
    serde_json::from_str(&json).map_err(|_| bad_argument(what))
}

/// Policy text arrives as a string or as bytes (`Uint8Array`, `Buffer`), bytes checked as UTF-8.
enum Text {
    Str(String),
    Bytes(Vec<u8>),
}

fn text_arg(input: &JsValue) -> Result<Text, JsValue> {
    if let Some(s) = input.as_string() {
        Ok(Text::Str(s))
    } else if input.is_instance_of::<js_sys::Uint8Array>() {
        Ok(Text::Bytes(
            js_sys::Uint8Array::unchecked_from_js_ref(input).to_vec(),
        ))
    } else {
        Err(bad_argument(
            "expected the policy as a string or a Uint8Array",
        ))
    }
}

#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = parseRecord)]
pub fn parse_record(txt: &str) -> Result<JsValue, JsValue> {
    record::parse_record(txt)
        .map_err(|e| js_error(&e))
        .and_then(|r| to_js(&r))
}

#[wasm_bindgen(js_name = selectRecord)]
pub fn select_record(records: JsValue) -> Result<JsValue, JsValue> {
    let records: Vec<Vec<String>> = from_js(
        &records,
        "expected the TXT records as an array of arrays of strings",
    )?;
    record::select_record(&records)
        .map_err(|e| js_error(&e))
        .and_then(|r| to_js(&r))
}

#[wasm_bindgen(js_name = lintRecord)]
pub fn lint_record(txt: &str, name: Option<String>) -> Result<JsValue, JsValue> {
    to_js(&record::lint_record(txt, name.as_deref()))
}

#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = parsePolicy)]
pub fn parse_policy(input: JsValue) -> Result<JsValue, JsValue> {
    let parsed = match text_arg(&input)? {
        Text::Str(s) => policy::parse_policy(&s),
        Text::Bytes(b) => policy::parse_policy_bytes(&b),
    };
    parsed.map_err(|e| js_error(&e)).and_then(|p| to_js(&p))
}

#[wasm_bindgen(js_name = lintPolicy)]
pub fn lint_policy(input: JsValue) -> Result<JsValue, JsValue> {
    let lint = match text_arg(&input)? {
        Text::Str(s) => policy::lint_policy(&s),
        Text::Bytes(b) => policy::lint_policy_bytes(&b),
    };
    to_js(&lint)
}

#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = formatPolicy)]
pub fn format_policy(input: JsValue) -> Result<String, JsValue> {
    let value: serde_json::Value = from_js(&input, "expected a policy object")?;
    let policy = policy::policy_from_json(&value).map_err(|e| js_error(&e))?;
    Ok(policy::format_policy(&policy))
}

#[wasm_bindgen(js_name = matchMx)]
pub fn match_mx(patterns_or_policy: JsValue, host: &str) -> Result<bool, JsValue> {
    let list = if js_sys::Array::is_array(&patterns_or_policy) {
        patterns_or_policy
    } else if patterns_or_policy.is_object() {
        js_sys::Reflect::get(&patterns_or_policy, &JsValue::from_str("mx"))?
    } else {
        JsValue::UNDEFINED
    };
    if !js_sys::Array::is_array(&list) {
        return Err(bad_argument(
            "expected an array of mx patterns or a policy with an mx array",
        ));
    }
    let array: js_sys::Array = list.unchecked_into();
    let strings: Vec<String> = array
        .iter()
        .map(|v: JsValue| {
            v.as_string()
                .ok_or_else(|| bad_argument("mx patterns must be strings"))
        })
        .collect::<Result<_, _>>()?;
    let patterns = mx::parse_patterns(&strings).map_err(|e| js_error(&e.into()))?;
    Ok(mx::first_match(&patterns, host).is_some())
}

/// Policy discovery (RFC 8461 §3.3): a thin handle on [`crate::Discovery`]. JS drives it with
/// `poll()`, `onTxtRecords(records)` / `onTxtNone()` / `onTxtFailed(detail)`, and `onResponse(status, contentType, location, body)` or `onFetchFailed(kind, detail, received, expected)`.
#[wasm_bindgen(js_name = Discovery)]
pub struct JsDiscovery(crate::Discovery);

#[wasm_bindgen(js_class = Discovery)]
impl JsDiscovery {
    /// `cached` is a stored entry or null; `now` and `recheckAfter` are seconds.
    #[wasm_bindgen(constructor)]
    pub fn new(
        domain: &str,
        cached: JsValue,
        now: f64,
        recheck_after: f64,
    ) -> Result<JsDiscovery, JsValue> {
        let cached: Option<crate::CacheEntry> = if cached.is_null() || cached.is_undefined() {
            None
        } else {
            // A damaged entry is no entry; discovery then starts from DNS.
            from_js(&cached, "cache entry").ok()
        };
        crate::Discovery::new(domain, cached, seconds(now), seconds(recheck_after))
            .map(JsDiscovery)
            .map_err(|e| js_error(&e))
    }

    /// The policy domain, normalised (lowercase A-labels): the store key.
    #[wasm_bindgen(getter)]
    pub fn domain(&self) -> String {
        self.0.domain().to_string()
    }

    /// Proactive refresh: fetch even when the TXT id is unchanged.
    #[wasm_bindgen(js_name = forceFetch)]
    pub fn force_fetch(&mut self) {
        self.0.force_fetch();
    }

    pub fn poll(&mut self) -> Result<JsValue, JsValue> {
        to_js(&self.0.poll())
    }

    /// The TXT records at the name asked for, each an array of its strings (RFC 8461 §3.1: not yet
    /// concatenated). Anything else is a malformed host answer: a temporary failure, never "none".
    #[wasm_bindgen(js_name = onTxtRecords)]
    pub fn on_txt_records(&mut self, records: JsValue) {
        self.0.on_txt(
            match serde_wasm_bindgen::from_value::<Vec<Vec<String>>>(records) {
                Ok(records) => crate::TxtAnswer::Records(records),
                Err(_) => crate::TxtAnswer::Temporary {
                    detail: "malformed TXT answer from the host".into(),
                },
            },
        );
    }

    /// NXDOMAIN or no TXT data: the domain publishes no record.
    #[wasm_bindgen(js_name = onTxtNone)]
    pub fn on_txt_none(&mut self) {
        self.0.on_txt(crate::TxtAnswer::NoRecord);
    }

    /// Timeout, SERVFAIL, refused: `detail` is the resolver's code. Never the same as no record.
    #[wasm_bindgen(js_name = onTxtFailed)]
    pub fn on_txt_failed(&mut self, detail: &str) {
        self.0.on_txt(crate::TxtAnswer::Temporary {
            detail: detail.into(),
        });
    }

    /// The policy host answered: status, headers, body bytes (capped by the host). Typed: nothing
    /// here is re-parsed from JSON (a 64 KiB body crosses as bytes).
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(
        &mut self,
        status: u16,
        content_type: Option<String>,
        location: Option<String>,
        body: &[u8],
    ) {
        self.0.on_policy(crate::FetchAnswer::Response {
            status,
            content_type,
            location,
            body: body.to_vec(),
        });
    }

    /// The fetch failed: `kind` is the host's classification (`tls`, `timeout`, `too-large`,
    /// `truncated`, ... as FetchFailure names them), `received`/`expected` the byte counts of a
    /// truncated body (`expected` negative when unknown).
    #[wasm_bindgen(js_name = onFetchFailed)]
    pub fn on_fetch_failed(&mut self, kind: &str, detail: &str, received: f64, expected: f64) {
        self.0.on_policy(crate::FetchAnswer::Failed {
            kind: crate::FetchFailure::from_host(
                kind,
                seconds(received),
                (expected >= 0.0).then(|| seconds(expected)),
            ),
            detail: detail.into(),
        });
    }
}

/// A domain as the core uses it (lowercase A-labels, no trailing dot); throws `domain-invalid`.
#[wasm_bindgen(js_name = normalizeDomain)]
pub fn normalize_domain(domain: &str) -> Result<String, JsValue> {
    crate::domain::normalize_domain(domain).map_err(|e| js_error(&e))
}

/// Whether a stored entry is due for proactive refresh at `now` (RFC 8461 §3.3, §10.2).
#[wasm_bindgen(js_name = refreshDue)]
pub fn refresh_due(entry: JsValue, now: f64, jitter: f64) -> bool {
    from_js::<crate::CacheEntry>(&entry, "")
        .ok()
        .and_then(crate::CacheEntry::load)
        .is_some_and(|c| c.refresh_due(seconds(now), jitter))
}

/// JS numbers to whole seconds: negative, NaN and infinite values become 0.
fn seconds(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 {
        n as u64
    } else {
        0
    }
}

#[cfg(feature = "verify")]
#[wasm_bindgen(module = "/js/host-crypto.js")]
extern "C" {
    #[wasm_bindgen(js_name = hostVerify)]
    fn host_verify(scheme: &str, spki: &[u8], message: &[u8], signature: &[u8]) -> bool;
}

/// The JS host's registered verifier (see js/host-crypto.js).
#[cfg(feature = "verify")]
struct JsSignatureHost;

#[cfg(feature = "verify")]
impl crate::SignatureHost for JsSignatureHost {
    fn verify(
        &self,
        scheme: crate::HostScheme,
        spki: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        host_verify(scheme.as_str(), spki, message, signature)
    }
}

/// Trust anchors parsed once (RFC 8461 §4.2 "a root CA that is trusted by the sending MTA").
#[cfg(feature = "verify")]
#[wasm_bindgen(js_name = TrustStore)]
pub struct JsTrustStore(crate::TrustAnchors);

#[cfg(feature = "verify")]
#[wasm_bindgen(js_class = TrustStore)]
impl JsTrustStore {
    #[wasm_bindgen(constructor)]
    pub fn new() -> JsTrustStore {
        JsTrustStore(crate::TrustAnchors::new())
    }

    #[wasm_bindgen(js_name = addPem)]
    pub fn add_pem(&mut self, pem: &str) {
        self.0.add_pem(pem);
    }

    #[wasm_bindgen(js_name = addDer)]
    pub fn add_der(&mut self, der: &[u8]) {
        self.0.add_der(der);
    }

    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.0.len()
    }

    #[wasm_bindgen(getter)]
    pub fn rejected(&self) -> usize {
        self.0.rejected
    }
}

#[cfg(feature = "verify")]
impl Default for JsTrustStore {
    fn default() -> Self {
        Self::new()
    }
}

/// A peer chain from JS: DER `Uint8Array`s, leaf first.
#[cfg(feature = "verify")]
fn chain_of(chain: &js_sys::Array) -> Result<Vec<Vec<u8>>, JsValue> {
    let mut ders = Vec::with_capacity(chain.length() as usize);
    for item in chain.iter() {
        if !item.is_instance_of::<js_sys::Uint8Array>() {
            return Err(bad_argument(
                "expected the chain as an array of DER Uint8Arrays",
            ));
        }
        ders.push(js_sys::Uint8Array::unchecked_from_js(item).to_vec());
    }
    Ok(ders)
}

/// The JS host's signature verifier when it registered one (js/host-crypto.js), else ring.
#[cfg(feature = "verify")]
fn signature_host(registered: bool) -> Option<&'static dyn crate::SignatureHost> {
    if registered {
        Some(&JsSignatureHost)
    } else {
        None
    }
}

/// Structured results as plain JS objects (bytes as `Uint8Array`), without a JSON round trip.
fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(
            &serde_wasm_bindgen::Serializer::new()
                .serialize_maps_as_objects(true)
                .serialize_missing_as_null(true),
        )
        .map_err(|e| bad_argument(&e.to_string()))
}

/// RFC 8461 §4.2 check of `chain` (DER `Uint8Array`s, leaf first) for `host` at `now` seconds.
/// Returns `{ ok: true }` or `{ ok: false, code, message, tlsrpt }`. `host_crypto`: the JS host
/// has registered a signature verifier (js/host-crypto.js); otherwise ring checks signatures.
#[cfg(feature = "verify")]
#[wasm_bindgen(js_name = verifyChain)]
pub fn verify_chain(
    chain: js_sys::Array,
    host: &str,
    now: f64,
    store: &JsTrustStore,
    host_crypto: bool,
) -> Result<JsValue, JsValue> {
    let ders = chain_of(&chain)?;
    let host_crypto = signature_host(host_crypto);
    let verdict = match crate::verify_chain(&ders, host, seconds(now), &store.0, host_crypto) {
        Ok(()) => serde_json::json!({ "ok": true }),
        Err(e) => {
            serde_json::json!({ "ok": false, "code": e.code(), "message": e.to_string(), "tlsrpt": e.tlsrpt_result() })
        }
    };
    to_js(&verdict)
}

#[cfg(feature = "verify")]
#[derive(serde::Deserialize)]
struct ErrorArg {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default = "yes")]
    temporary: bool,
    #[serde(default)]
    tlsrpt: String,
}

#[cfg(feature = "verify")]
fn yes() -> bool {
    true
}

/// The relay's 4xx/5xx for the local MTA when no MX could be used (see src/relay.rs).
#[cfg(feature = "verify")]
#[wasm_bindgen(js_name = relayFailureReply)]
pub fn relay_failure_reply(
    policy_domain: &str,
    mode: Option<String>,
    mx: Option<String>,
    error: JsValue,
) -> Result<JsValue, JsValue> {
    let e: ErrorArg = from_js(&error, "expected an error { code, message, temporary }")?;
    let error = Error::Host {
        code: e.code,
        message: e.message,
        temporary: e.temporary,
        tlsrpt: e.tlsrpt,
    };
    to_js(&crate::relay::failure_reply(
        policy_domain,
        mode.as_deref(),
        mx.as_deref(),
        &error,
    ))
}

/// 452 4.5.3 for a recipient of a second domain in one transaction.
#[cfg(feature = "verify")]
#[wasm_bindgen(js_name = relayOtherDomainReply)]
pub fn relay_other_domain_reply(first_domain: &str) -> Result<JsValue, JsValue> {
    to_js(&crate::relay::other_domain_reply(first_domain))
}

/// `parsePolicy` for a string, answered by positions in that string (see
/// [`crate::policy::parse_policy_layout`]): no strings cross back.
#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = parsePolicyLayout)]
pub fn parse_policy_layout(text: &str) -> Result<Vec<u32>, JsValue> {
    policy::parse_policy_layout(text).map_err(|e| js_error(&e))
}

/// `parsePolicy` for bytes (checked as UTF-8), answered by positions in the decoded text.
#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = parsePolicyBytesLayout)]
pub fn parse_policy_bytes_layout(bytes: &[u8]) -> Result<Vec<u32>, JsValue> {
    policy::parse_policy_bytes_layout(bytes).map_err(|e| js_error(&e))
}

/// MX patterns validated once, for repeated matching (RFC 8461 §4.1).
#[wasm_bindgen(js_name = MxMatcher)]
pub struct JsMxMatcher(Vec<crate::MxPattern>);

#[wasm_bindgen(js_class = MxMatcher)]
impl JsMxMatcher {
    /// `lines`: the patterns joined with "\n". Throws `mx-pattern-invalid`.
    #[wasm_bindgen(constructor)]
    pub fn new(lines: &str) -> Result<JsMxMatcher, JsValue> {
        mx::parse_pattern_lines(lines)
            .map(JsMxMatcher)
            .map_err(|e| js_error(&e.into()))
    }

    /// 1 when `host` matches, 0 when not (also when it is not a domain name, see
    /// [`mx::first_match`]). A plain number crosses the boundary without the allocation a
    /// `Result` costs.
    pub fn test(&self, host: &str) -> u32 {
        u32::from(mx::first_match(&self.0, host).is_some())
    }
}

/// Each "\n"-separated host of the `len` input bytes through `matches`: bit i for host i; -2
/// for more than 31 hosts or input that is not UTF-8 (the JS host sends neither).
fn verdict_bits(len: usize, matches: impl Fn(&str) -> bool) -> i32 {
    with_input(len, |hosts| {
        let mut bits = 0i32;
        let mut start = 0;
        let b = hosts.as_bytes();
        for i in 0..=31 {
            // A plain scan: hosts are short, and str::split's searcher costs more here.
            let end = b[start..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| start + n);
            if i == 31 {
                return -2;
            }
            if matches(&hosts[start..end]) {
                bits |= 1 << i;
            }
            if end == b.len() {
                return bits;
            }
            start = end + 1;
        }
        -2
    })
    .unwrap_or(-2)
}

#[wasm_bindgen(js_class = MxMatcher)]
impl JsMxMatcher {
    /// The hosts in the `len` input bytes (at most 31, joined by "\n") against these patterns:
    /// bit i set when host i matches.
    #[wasm_bindgen(js_name = testLines)]
    pub fn test_lines(&self, len: usize) -> i32 {
        verdict_bits(len, |host| mx::first_match(&self.0, host).is_some())
    }
}

// The fast lane for hot calls (policy parsing, MX matching): the host writes its string with
// `TextEncoder.encodeInto` straight into a buffer the module owns, and reads the answer from
// another, instead of wasm-bindgen's per-call copy loop and result arrays (measured ~0.7 µs of a
// ~2 µs parse). These functions only move bytes; the rules are in the core as everywhere else.
thread_local! {
    static INPUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static OUTPUT: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A pointer to at least `capacity` bytes of input buffer (valid until the next call).
#[wasm_bindgen(js_name = inputBuffer)]
pub fn input_buffer(capacity: usize) -> *mut u8 {
    INPUT.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < capacity {
            b.resize(capacity, 0);
        }
        b.as_mut_ptr()
    })
}

/// Where the last layout was written.
#[wasm_bindgen(js_name = outputBuffer)]
pub fn output_buffer() -> *const u32 {
    OUTPUT.with(|o| o.borrow().as_ptr())
}

fn with_input<T>(len: usize, f: impl FnOnce(&str) -> T) -> Option<T> {
    INPUT.with(|b| {
        let b = b.borrow();
        std::str::from_utf8(b.get(..len)?).ok().map(f)
    })
}

/// Parses the `len` input bytes as a policy and writes its layout (see
/// [`policy::parse_policy_layout`]) to the output buffer; returns the buffer's address, or 0 when
/// the policy is invalid (the caller then asks `parsePolicy` for the error).
#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = parsePolicyInput)]
pub fn parse_policy_input(len: usize) -> usize {
    INPUT.with(|input| {
        let input = input.borrow();
        let Some(bytes) = input.get(..len) else {
            return 0;
        };
        OUTPUT.with(|out| {
            let mut out = out.borrow_mut();
            out.clear();
            match policy::parse_policy_bytes_layout_into(bytes, &mut out) {
                Ok(()) => out.as_ptr() as usize,
                Err(_) => 0,
            }
        })
    })
}

#[wasm_bindgen(js_class = MxMatcher)]
impl JsMxMatcher {
    /// [`JsMxMatcher::test`] for the `len` input bytes.
    #[wasm_bindgen(js_name = testInput)]
    pub fn test_input(&self, len: usize) -> u32 {
        with_input(len, |host| {
            u32::from(mx::first_match(&self.0, host).is_some())
        })
        .unwrap_or(0)
    }
}
