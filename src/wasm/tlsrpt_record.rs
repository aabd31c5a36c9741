//! Bindings of the TLS-RPT record (src/tlsrpt/record.rs): argument conversion only.

use super::{from_js, js_error, to_js};
use crate::tlsrpt::record;
use wasm_bindgen::prelude::*;

#[cfg(feature = "library-api")]
#[wasm_bindgen(js_name = parseTlsRptRecord)]
pub fn parse_tlsrpt_record(txt: &str) -> Result<JsValue, JsValue> {
    record::parse_tlsrpt_record(txt)
        .map_err(|e| js_error(&e))
        .and_then(|r| to_js(&r))
}

#[wasm_bindgen(js_name = selectTlsRptRecord)]
pub fn select_tlsrpt_record(records: JsValue) -> Result<JsValue, JsValue> {
    let records: Vec<Vec<String>> = from_js(
        &records,
        "expected the TXT records as an array of arrays of strings",
    )?;
    record::select_tlsrpt_record(&records)
        .map_err(|e| js_error(&e))
        .and_then(|r| to_js(&r))
}

#[wasm_bindgen(js_name = lintTlsRptRecord)]
pub fn lint_tlsrpt_record(txt: &str, name: Option<String>) -> Result<JsValue, JsValue> {
    to_js(&record::lint_tlsrpt_record(txt, name.as_deref()))
}
