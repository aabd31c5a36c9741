//! SMTP TLS Reporting (RFC 8460), sans-IO: the `_smtp._tls` TXT record (§3) and the aggregate
//! report (§4): built from session results a sender recorded, and read from what receivers get.

pub mod record;
pub mod report;
