//! The `_smtp._tls.<domain>` TXT record (RFC 8460 §3).
