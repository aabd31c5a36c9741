//! RFC 8461 §4.2 certificate checks against the test PKI in tests/pki/ (made by tests/pki/make.sh,
//! valid from 2026-11-28 for ten years), with ring and with a host signature verifier.

use mtasts::{verify_chain, HostScheme, SignatureHost, TrustAnchors};
use std::sync::atomic::{AtomicUsize, Ordering};

const NOW: u64 = 1_830_297_600; // 2028-01-01
const BEFORE: u64 = 1_767_225_600; // 2026-01-01, before notBefore
const AFTER: u64 = 2_240_524_800; // 2041-01-01, after notAfter

fn der(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/pki/{name}.der",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn anchors() -> TrustAnchors {
    let mut a = TrustAnchors::new();
    let pem = std::fs::read_to_string(format!(
        "{}/tests/pki/ca-rsa.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    a.add_pem(&pem);
    a.add_der(&der("ca-ec"));
    assert_eq!((a.len(), a.rejected), (2, 0));
    assert!(!a.is_empty());
    a
}

fn code(
    chain: &[&str],
    host: &str,
    now: u64,
    host_crypto: Option<&dyn SignatureHost>,
) -> &'static str {
    let chain: Vec<Vec<u8>> = chain.iter().map(|n| der(n)).collect();
    match verify_chain(&chain, host, now, &anchors(), host_crypto) {
        Ok(()) => "ok",
        Err(e) => e.code(),
    }
}

/// (chain, host, now, expected, reason)
const TABLE: &[(&[&str], &str, u64, &str, &str)] = &[
    (
        &["mx-rsa"],
        "mx1.example.test",
        NOW,
        "ok",
        "RSA leaf directly under the root",
    ),
    (
        &["mx-rsa"],
        "MX1.Example.Test.",
        NOW,
        "ok",
        "case and trailing dot",
    ),
    (
        &["mx-ec", "int-ec"],
        "mx2.example.test",
        NOW,
        "ok",
        "ECDSA P-256 leaf under a P-384 intermediate",
    ),
    (
        &["mx-ec", "int-ec"],
        "a.wild.example.test",
        NOW,
        "ok",
        "wildcard matches one label",
    ),
    (
        &["mx-ec", "int-ec"],
        "b.a.wild.example.test",
        NOW,
        "certificate-host-mismatch",
        "wildcard matches exactly one label",
    ),
    (
        &["mx-ec", "int-ec"],
        "wild.example.test",
        NOW,
        "certificate-host-mismatch",
        "wildcard needs a label",
    ),
    (
        &["mx-ec", "mx-rsa", "int-ec"],
        "mx2.example.test",
        NOW,
        "ok",
        "extra and out-of-order certificates",
    ),
    (
        &["mx-ec"],
        "mx2.example.test",
        NOW,
        "certificate-not-trusted",
        "missing intermediate",
    ),
    (
        &["mx-rsa"],
        "mx2.example.test",
        NOW,
        "certificate-host-mismatch",
        "another host",
    ),
    (
        &["mx-idn"],
        "mx.bücher.example",
        NOW,
        "ok",
        "IDN host given as a U-label",
    ),
    (
        &["mx-idn"],
        "mx.xn--bcher-kva.example",
        NOW,
        "ok",
        "IDN host given as an A-label",
    ),
    (
        &["cn-only"],
        "mx1.example.test",
        NOW,
        "certificate-host-mismatch",
        "no Common Name fallback",
    ),
    (
        &["client-only"],
        "mx1.example.test",
        NOW,
        "validation-failure",
        "server-auth EKU required",
    ),
    (
        &["other"],
        "mx1.example.test",
        NOW,
        "certificate-not-trusted",
        "unknown CA",
    ),
    (
        &["ca-rsa"],
        "mx1.example.test",
        NOW,
        "validation-failure",
        "a CA certificate as the leaf",
    ),
    (
        &["mx-rsa"],
        "mx1.example.test",
        AFTER,
        "certificate-expired",
        "expired (clock moved forward)",
    ),
    (
        &["mx-rsa"],
        "mx1.example.test",
        BEFORE,
        "certificate-expired",
        "not yet valid",
    ),
    (
        &[],
        "mx1.example.test",
        NOW,
        "validation-failure",
        "no certificate",
    ),
    (
        &["mx-rsa"],
        "192.0.2.1",
        NOW,
        "validation-failure",
        "IP addresses are not MX host names",
    ),
];

#[test]
fn with_ring() {
    for (chain, host, now, want, why) in TABLE {
        assert_eq!(code(chain, host, *now, None), *want, "{why}");
    }
}

/// A host verifier backed by ring's own primitives, counting calls.
struct RingHost(AtomicUsize);

impl SignatureHost for RingHost {
    fn verify(&self, scheme: HostScheme, spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as s;
        self.0.fetch_add(1, Ordering::Relaxed);
        // Take the key bits back out of the SPKI the core built: the BIT STRING is last.
        let key = spki_key(spki);
        let alg: &dyn s::VerificationAlgorithm = match scheme {
            HostScheme::EcdsaSha256 if key.len() == 65 => &s::ECDSA_P256_SHA256_ASN1,
            HostScheme::EcdsaSha256 => &s::ECDSA_P384_SHA256_ASN1,
            HostScheme::EcdsaSha384 if key.len() == 65 => &s::ECDSA_P256_SHA384_ASN1,
            HostScheme::EcdsaSha384 => &s::ECDSA_P384_SHA384_ASN1,
            HostScheme::RsaPkcs1Sha256 => &s::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            _ => return false,
        };
        s::UnparsedPublicKey::new(alg, key)
            .verify(message, signature)
            .is_ok()
    }
}

fn spki_key(spki: &[u8]) -> &[u8] {
    // ... 03 len 00 <key> at the end; the key length is in the BIT STRING header.
    let pos = spki.iter().rposition(|&b| b == 0x03).unwrap();
    let mut p = pos;
    loop {
        let len_byte = spki[p + 1] as usize;
        let (hdr, len) = match len_byte {
            l if l < 0x80 => (2, l),
            0x81 => (3, spki[p + 2] as usize),
            _ => (4, (spki[p + 2] as usize) << 8 | spki[p + 3] as usize),
        };
        if p + hdr + len == spki.len() {
            return &spki[p + hdr + 1..];
        }
        p = spki[..p].iter().rposition(|&b| b == 0x03).unwrap();
    }
}

#[test]
fn with_host_crypto() {
    let host = RingHost(AtomicUsize::new(0));
    for (chain, name, now, want, why) in TABLE {
        assert_eq!(
            code(chain, name, *now, Some(&host)),
            *want,
            "{why} (host crypto)"
        );
    }
    assert!(
        host.0.load(Ordering::Relaxed) > 10,
        "signatures went to the host"
    );
}

/// A host that says no to everything: nothing verifies.
struct NoHost;
impl SignatureHost for NoHost {
    fn verify(&self, _: HostScheme, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        false
    }
}

#[test]
fn the_host_decides_signatures() {
    assert_ne!(
        code(&["mx-rsa"], "mx1.example.test", NOW, Some(&NoHost)),
        "ok"
    );
}

#[test]
fn garbage_never_panics() {
    let a = anchors();
    for bytes in [
        vec![],
        vec![0u8; 10],
        vec![0x30, 0x82, 0xff, 0xff],
        der("mx-rsa")[..100].to_vec(),
    ] {
        let e = verify_chain(&[bytes], "mx1.example.test", NOW, &a, None).unwrap_err();
        assert_eq!(e.code(), "validation-failure");
    }
    let mut t = TrustAnchors::new();
    t.add_pem("not pem at all");
    t.add_der(b"junk");
    assert_eq!((t.len(), t.rejected), (0, 1));
    assert!(t.is_empty());
}
