//! Delivery to a domain's MX under its MTA-STS policy (RFC 8461 §4, §5; RFC 5321 §5.1; RFC 7505):
//! the plan of MX hosts ([`plan`]), the addresses dialled ([`address`]: families, RFC 6890 ranges),
//! the verdict on one attempt ([`judge`]), and the whole delivery as one sans-IO state machine
//! ([`Delivery`]) that hosts drive.

pub mod address;
mod judge;
mod machine;
mod plan;

pub use crate::error::DeliveryError;
pub use address::{AddressRules, Family};
pub use judge::{judge, Judgement, TlsResult, Verdict};
pub use machine::{
    AddressAnswer, Attempt, CertificateVerdict, Delivery, Failure, Limits, MxAnswer, Options,
    Ready, Step, TraceFacts,
};
pub use plan::{plan, Candidate, MxRecord, Plan};
