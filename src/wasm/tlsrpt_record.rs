//! Bindings of the TLS-RPT record (src/tlsrpt/record.rs): argument conversion only.
