//! Bindings of the TLS-RPT report (src/tlsrpt/report.rs): argument conversion only. Session
//! results come in as plain objects (serde-wasm-bindgen); the report JSON, a wire artefact, goes
//! out and comes in as the exact string.

use super::{bad_argument, js_error, to_value};
use crate::tlsrpt::report::{self, ReportOptions, SessionResult};
use wasm_bindgen::prelude::*;

/// `[{ policyDomain, reportId, fileName, json }]`, one report per policy domain of `results`
/// (`[{ policyDomain, policy: { type, strings, mxPatterns }, result, sendingMtaIp, ..., count }]`).
#[wasm_bindgen(js_name = buildTlsRptReports)]
pub fn build_tlsrpt_reports(
    organization: &str,
    contact: &str,
    submitter: &str,
    day: &str,
    results: JsValue,
) -> Result<JsValue, JsValue> {
    let results: Vec<SessionResult> = serde_wasm_bindgen::from_value(results)
        .map_err(|e| bad_argument(&format!("buildTlsRptReports: options.results: {e}")))?;
    let options = ReportOptions {
        organization,
        contact,
        submitter,
        day,
    };
    let reports = report::build_reports(&options, &results).map_err(|e| js_error(&e))?;
    to_value(&reports)
}

/// The checked summary of a report's JSON text (see [`report::ReportSummary`]).
#[wasm_bindgen(js_name = readTlsRptReport)]
pub fn read_tlsrpt_report(json_text: &str) -> Result<JsValue, JsValue> {
    let summary = report::read_report(json_text).map_err(|e| js_error(&e))?;
    to_value(&summary)
}
