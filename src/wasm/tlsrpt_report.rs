//! Bindings of the TLS-RPT report (src/tlsrpt/report.rs): argument conversion only.
