//! The aggregate TLS report (RFC 8460 §4, erratum 6241): built from recorded session results, and
//! read (validated, tolerantly) from reports others send.
