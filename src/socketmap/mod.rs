//! The Postfix socketmap protocol (socketmap_table(5)) for `smtp_tls_policy_maps`: Postfix asks,
//! per next-hop domain, for a TLS policy, and gets one from the domain's MTA-STS policy.
//!
//! Three steps, each sans-IO: [`netstring`] frames the bytes of one connection into requests and
//! replies; [`request`] reads `name key` into the zone (the map name) and the policy domain the
//! key stands for; [`answer`] turns the domain's policy (from the same discovery and store as the
//! relay) and, for wildcard patterns, its MX hosts into the reply text. The host reads and writes
//! the socket, resolves the policy and the MX records, and keeps the time.

pub mod answer;
pub mod netstring;
pub mod request;

pub use answer::{
    answer, needs_mx, request_error_answer, skip_answer, Answer, MxAnswer, Reply, ZoneOptions,
};
pub use netstring::{encode, Fed, Feed, NetstringDecoder, DEFAULT_MAX_REQUEST, MAX_REPLY};
pub use request::{parse_request, Lookup, Request, Skip};

/// A request read: either the policy domain to look up, or already answered (a key that names no
/// policy domain gets `NOTFOUND`, a request that is not `name key` gets `PERM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared {
    Lookup {
        map: String,
        key: String,
        domain: String,
    },
    Answered {
        map: Option<String>,
        key: Option<String>,
        answer: Answer,
    },
}

/// Reads one request's data (see [`parse_request`]) into what the host does next.
pub fn prepare(data: &[u8]) -> Prepared {
    match parse_request(data) {
        Ok(Request {
            map,
            key,
            lookup: Lookup::Domain(domain),
        }) => Prepared::Lookup { map, key, domain },
        Ok(Request {
            map,
            key,
            lookup: Lookup::Skip(skip),
        }) => Prepared::Answered {
            map: Some(map),
            key: Some(key),
            answer: skip_answer(&skip),
        },
        Err(e) => Prepared::Answered {
            map: None,
            key: None,
            answer: request_error_answer(&e),
        },
    }
}
