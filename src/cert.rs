//! The MX certificate check of RFC 8461 §4.2, with rustls-webpki.
//!
//! > The certificate presented by the receiving MX MUST chain to a root CA that is trusted by the
//! > sending MTA and be non-expired. It MUST have a subject alternative name (SAN) with a dNSName
//! > that matches the host name of the MX ... per RFC 6125 ... [wildcards] in the left-most label.
//!
//! webpki gives exactly that: path building to the injected trust anchors at the injected time,
//! SAN dNSName matching with the wildcard only as the whole left-most label and never a Common
//! Name fallback, and the server-auth EKU. Trust anchors and `now` come from the host.
//!
//! Signature checks can be delegated to the host's native crypto ([`SignatureHost`], e.g. Node's
//! `crypto.verify`); ring inside the module is the fallback (a browser).

use crate::error::{CertificateError, Error};
use crate::idna;
use pki_types::{
    CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use std::time::Duration;
use webpki::ring as alg;

/// Signature schemes the host is asked to verify; named for Node's `crypto.verify` arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostScheme {
    EcdsaSha256,
    EcdsaSha384,
    Ed25519,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
}

impl HostScheme {
    /// `<key>-<padding?>-<hash>`, e.g. `ecdsa-sha256`, `rsa-pss-sha384`, `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostScheme::EcdsaSha256 => "ecdsa-sha256",
            HostScheme::EcdsaSha384 => "ecdsa-sha384",
            HostScheme::Ed25519 => "ed25519",
            HostScheme::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            HostScheme::RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
            HostScheme::RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
            HostScheme::RsaPssSha256 => "rsa-pss-sha256",
            HostScheme::RsaPssSha384 => "rsa-pss-sha384",
            HostScheme::RsaPssSha512 => "rsa-pss-sha512",
        }
    }

    fn is_rsa(self) -> bool {
        self.as_str().starts_with("rsa")
    }
}

/// Native signature verification offered by the host. `spki` is a DER SubjectPublicKeyInfo,
/// `signature` as in the certificate (DER for ECDSA).
pub trait SignatureHost: Send + Sync {
    fn verify(&self, scheme: HostScheme, spki: &[u8], message: &[u8], signature: &[u8]) -> bool;
}

/// The algorithms accepted in chains, each with the scheme the host is asked for. The ring
/// algorithms carry the identifiers and key-size floors that webpki matches on.
const ALGORITHMS: &[(&dyn SignatureVerificationAlgorithm, HostScheme, usize)] = &[
    (alg::ECDSA_P256_SHA256, HostScheme::EcdsaSha256, 0),
    (alg::ECDSA_P256_SHA384, HostScheme::EcdsaSha384, 0),
    (alg::ECDSA_P384_SHA256, HostScheme::EcdsaSha256, 0),
    (alg::ECDSA_P384_SHA384, HostScheme::EcdsaSha384, 0),
    (alg::ED25519, HostScheme::Ed25519, 0),
    (
        alg::RSA_PKCS1_2048_8192_SHA256,
        HostScheme::RsaPkcs1Sha256,
        2048,
    ),
    (
        alg::RSA_PKCS1_2048_8192_SHA384,
        HostScheme::RsaPkcs1Sha384,
        2048,
    ),
    (
        alg::RSA_PKCS1_2048_8192_SHA512,
        HostScheme::RsaPkcs1Sha512,
        2048,
    ),
    (
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        HostScheme::RsaPkcs1Sha256,
        2048,
    ),
    (
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        HostScheme::RsaPkcs1Sha384,
        2048,
    ),
    (
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        HostScheme::RsaPkcs1Sha512,
        2048,
    ),
    (
        alg::RSA_PKCS1_3072_8192_SHA384,
        HostScheme::RsaPkcs1Sha384,
        3072,
    ),
    (
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        HostScheme::RsaPssSha256,
        2048,
    ),
    (
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        HostScheme::RsaPssSha384,
        2048,
    ),
    (
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        HostScheme::RsaPssSha512,
        2048,
    ),
];

/// A ring algorithm's identifiers with the signature check done by the host.
struct HostAlgorithm<'h> {
    ring: &'static dyn SignatureVerificationAlgorithm,
    scheme: HostScheme,
    min_rsa_bits: usize,
    host: &'h dyn SignatureHost,
}

impl std::fmt::Debug for HostAlgorithm<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostAlgorithm({})", self.scheme.as_str())
    }
}

impl SignatureVerificationAlgorithm for HostAlgorithm<'_> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), pki_types::InvalidSignature> {
        // ring enforces RSA key sizes itself; the host may not, so the floor is checked here.
        if self.scheme.is_rsa()
            && !rsa_modulus_bits(public_key)
                .is_some_and(|b| (self.min_rsa_bits..=8192).contains(&b))
        {
            return Err(pki_types::InvalidSignature);
        }
        let spki = spki_der(self.ring.public_key_alg_id().as_ref(), public_key);
        if self.host.verify(self.scheme, &spki, message, signature) {
            Ok(())
        } else {
            Err(pki_types::InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> pki_types::AlgorithmIdentifier {
        self.ring.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> pki_types::AlgorithmIdentifier {
        self.ring.signature_alg_id()
    }
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
}

fn der_tlv(tag: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(body.len(), out);
    out.extend_from_slice(body);
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }`
/// from the identifier's contents and the key bits (keys are far below 64 KiB).
fn spki_der(alg_id: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(alg_id.len() + key.len() + 8);
    der_tlv(0x30, alg_id, &mut body);
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(key);
    der_tlv(0x03, &bits, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    der_tlv(0x30, &body, &mut out);
    out
}

/// Reads one DER TLV header: (tag, content start, content length).
fn der_header(der: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *der.first()?;
    let first = *der.get(1)? as usize;
    if first < 0x80 {
        return Some((tag, 2, first));
    }
    let n = first & 0x7f;
    if n == 0 || n > 2 {
        return None;
    }
    let len = der
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    Some((tag, 2 + n, len))
}

/// Bits of the modulus of a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, ... }`.
fn rsa_modulus_bits(key: &[u8]) -> Option<usize> {
    let (tag, start, _) = der_header(key)?;
    if tag != 0x30 {
        return None;
    }
    let inner = key.get(start..)?;
    let (tag, start, len) = der_header(inner)?;
    if tag != 0x02 {
        return None;
    }
    let modulus = inner.get(start..start + len)?;
    let modulus = match modulus.iter().position(|&b| b != 0) {
        Some(i) => &modulus[i..],
        None => return Some(0),
    };
    Some(modulus.len() * 8 - modulus[0].leading_zeros() as usize)
}

/// Trust anchors made once from the host's roots (PEM text or DER certificates).
#[derive(Debug, Default)]
pub struct TrustAnchors {
    anchors: Vec<TrustAnchor<'static>>,
    /// Certificates given that could not be used as anchors.
    pub rejected: usize,
}

impl TrustAnchors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_der(&mut self, der: &[u8]) {
        let cert = CertificateDer::from(der);
        match webpki::anchor_from_trusted_cert(&cert) {
            Ok(anchor) => self.anchors.push(anchor.to_owned()),
            Err(_) => self.rejected += 1,
        }
    }

    /// Adds every `CERTIFICATE` block of PEM text; other blocks are skipped.
    pub fn add_pem(&mut self, pem: &str) {
        use pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            match cert {
                Ok(cert) => self.add_der(&cert),
                Err(_) => self.rejected += 1,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// Checks the chain an MX presented (`chain[0]` the leaf, the rest in any order) for the MX host
/// name actually dialled, at `now` (seconds since the epoch), under RFC 8461 §4.2.
pub fn verify_chain(
    chain: &[Vec<u8>],
    host: &str,
    now: u64,
    anchors: &TrustAnchors,
    host_crypto: Option<&dyn SignatureHost>,
) -> Result<(), Error> {
    let fail = |e: CertificateError| Err(Error::from(e));
    let Some((leaf, rest)) = chain.split_first() else {
        return fail(CertificateError::Invalid {
            detail: "the server sent no certificate".into(),
        });
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    let name = idna::to_ascii(name).map_err(|r| CertificateError::Invalid {
        detail: format!("host {}: {r}", crate::diagnostic::shown(host)),
    })?;
    let server_name = match ServerName::try_from(name.as_str()) {
        Ok(n @ ServerName::DnsName(_)) => n,
        _ => {
            return fail(CertificateError::Invalid {
                detail: format!("{} is not a DNS host name", crate::diagnostic::shown(host)),
            })
        }
    };
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let end_entity = match webpki::EndEntityCert::try_from(&leaf_der) {
        Ok(ee) => ee,
        Err(e) => {
            return fail(CertificateError::Invalid {
                detail: format!("the leaf certificate cannot be parsed ({e:?})"),
            })
        }
    };
    let intermediates: Vec<CertificateDer> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let host_algs: Vec<HostAlgorithm> = match host_crypto {
        Some(h) => ALGORITHMS
            .iter()
            .map(|&(ring, scheme, min)| HostAlgorithm {
                ring,
                scheme,
                min_rsa_bits: min,
                host: h,
            })
            .collect(),
        None => Vec::new(),
    };
    let algs: Vec<&dyn SignatureVerificationAlgorithm> = if host_algs.is_empty() {
        ALGORITHMS.iter().map(|&(ring, _, _)| ring).collect()
    } else {
        host_algs
            .iter()
            .map(|a| a as &dyn SignatureVerificationAlgorithm)
            .collect()
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(now));
    // §4.2: chain to a trusted root, non-expired, server-auth EKU.
    end_entity
        .verify_for_usage(
            &algs,
            &anchors.anchors,
            &intermediates,
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| Error::from(CertificateError::from_webpki(&e)))?;
    // §4.2: a SAN dNSName matching the MX host (RFC 6125); webpki has no Common Name fallback.
    end_entity
        .verify_is_valid_for_subject_name(&server_name)
        .map_err(|e| Error::from(CertificateError::from_webpki(&e).for_host(&name)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_short_and_long_form() {
        // X.690 §8.1.3: below 128 one byte; else 0x80 | count, then the length big-endian.
        for (len, want) in [
            (0usize, vec![0x00]),
            (0x7f, vec![0x7f]),
            (0x80, vec![0x81, 0x80]),
            (0xff, vec![0x81, 0xff]),
            (0x100, vec![0x82, 0x01, 0x00]),
            (0x1234, vec![0x82, 0x12, 0x34]),
        ] {
            let mut out = Vec::new();
            der_len(len, &mut out);
            assert_eq!(out, want, "{len:#x}");
            // and the reader gives it back
            let mut tlv = vec![0x04];
            tlv.extend_from_slice(&out);
            assert_eq!(
                der_header(&tlv),
                Some((0x04, 1 + out.len(), len)),
                "{len:#x}"
            );
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn der_header_table() {
        // (bytes, header, reason)
        let cases: &[(&[u8], Option<(u8, usize, usize)>, &str)] = &[
            (
                &[0x30, 0x7f],
                Some((0x30, 2, 0x7f)),
                "short form, the largest",
            ),
            (
                &[0x30, 0x81, 0x80],
                Some((0x30, 3, 0x80)),
                "one length byte",
            ),
            (
                &[0x30, 0x82, 0x01, 0x02],
                Some((0x30, 4, 0x0102)),
                "two length bytes, big-endian",
            ),
            (
                &[0x30, 0x82, 0x80, 0x01],
                Some((0x30, 4, 0x8001)),
                "the high bit of a length byte is data",
            ),
            (&[0x30, 0x80], None, "indefinite length is not DER"),
            (
                &[0x30, 0x83, 1, 2, 3],
                None,
                "three length bytes: keys are far below 64 KiB",
            ),
            (&[0x30, 0x82, 0x01], None, "a length cut short"),
            (&[0x30], None, "no length"),
            (&[], None, "nothing"),
        ];
        for (der, want, why) in cases {
            assert_eq!(der_header(der), *want, "{why}");
        }
    }

    #[test]
    fn rsa_modulus_bits_table() {
        // RFC 8017 §A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        let key = |modulus: &[u8]| {
            let mut ints = Vec::new();
            der_tlv(0x02, modulus, &mut ints);
            der_tlv(0x02, &[1, 0, 1], &mut ints);
            let mut out = Vec::new();
            der_tlv(0x30, &ints, &mut out);
            out
        };
        let mut m2048 = vec![0x00, 0xc5];
        m2048.resize(257, 0x11);
        assert_eq!(
            rsa_modulus_bits(&key(&m2048)),
            Some(2048),
            "a leading zero byte is not counted"
        );
        let mut m2047 = vec![0x45];
        m2047.resize(256, 0x11);
        assert_eq!(
            rsa_modulus_bits(&key(&m2047)),
            Some(2047),
            "leading zero bits are not counted"
        );
        assert_eq!(rsa_modulus_bits(&key(&[0, 0])), Some(0), "a zero modulus");
        let mut wrong = key(&m2048);
        wrong[0] = 0x31;
        assert_eq!(rsa_modulus_bits(&wrong), None, "not a SEQUENCE");
        let mut wrong = key(&m2048);
        let at = der_header(&wrong).unwrap().1;
        wrong[at] = 0x04;
        assert_eq!(rsa_modulus_bits(&wrong), None, "modulus not an INTEGER");
        let cut = key(&m2048);
        assert_eq!(rsa_modulus_bits(&cut[..100]), None, "cut short");
    }

    /// A host that accepts every signature: only the core's own checks stand in its way.
    struct YesHost;
    impl SignatureHost for YesHost {
        fn verify(&self, _: HostScheme, _: &[u8], _: &[u8], _: &[u8]) -> bool {
            true
        }
    }

    #[test]
    fn the_rsa_key_floor_holds_whatever_the_host_says() {
        // ring refuses RSA keys under 2048 bits itself; a host verifier may not, so the floor
        // (and the 8192-bit ceiling) is applied before the host is asked, for RSA schemes only.
        let key = |bits: usize| {
            let mut modulus = vec![0x00, 0x80];
            modulus.resize(1 + bits / 8, 0x11);
            let mut ints = Vec::new();
            der_tlv(0x02, &modulus, &mut ints);
            der_tlv(0x02, &[1, 0, 1], &mut ints);
            let mut out = Vec::new();
            der_tlv(0x30, &ints, &mut out);
            out
        };
        let with = |i: usize| HostAlgorithm {
            ring: ALGORITHMS[i].0,
            scheme: ALGORITHMS[i].1,
            min_rsa_bits: ALGORITHMS[i].2,
            host: &YesHost,
        };
        let rsa = ALGORITHMS
            .iter()
            .position(|a| a.1 == HostScheme::RsaPkcs1Sha256)
            .unwrap();
        let rsa3072 = ALGORITHMS.iter().position(|a| a.2 == 3072).unwrap();
        let ecdsa = 0;
        // (algorithm, key bits, accepted, reason)
        let cases = [
            (
                rsa,
                1024,
                false,
                "RFC 8461 §4.2 trusts webpki's floor: 1024 bits is too weak",
            ),
            (rsa, 2040, false, "just under 2048"),
            (rsa, 2048, true, "the floor"),
            (rsa, 8192, true, "the ceiling"),
            (rsa, 8200, false, "over the ceiling"),
            (rsa3072, 2048, false, "this identifier's floor is 3072"),
            (rsa3072, 3072, true, "at its floor"),
        ];
        for (i, bits, ok, why) in cases {
            let r = with(i).verify_signature(&key(bits), b"m", b"s");
            assert_eq!(r.is_ok(), ok, "{why}");
        }
        assert!(
            with(ecdsa).verify_signature(&[4; 65], b"m", b"s").is_ok(),
            "no RSA floor for an ECDSA key: the host decides"
        );
        assert_eq!(
            format!("{:?}", with(rsa)),
            "HostAlgorithm(rsa-pkcs1-sha256)"
        );
    }

    #[test]
    fn host_scheme_names_are_key_padding_hash() {
        use HostScheme::*;
        let all = [
            (EcdsaSha256, "ecdsa-sha256", false),
            (EcdsaSha384, "ecdsa-sha384", false),
            (Ed25519, "ed25519", false),
            (RsaPkcs1Sha256, "rsa-pkcs1-sha256", true),
            (RsaPkcs1Sha384, "rsa-pkcs1-sha384", true),
            (RsaPkcs1Sha512, "rsa-pkcs1-sha512", true),
            (RsaPssSha256, "rsa-pss-sha256", true),
            (RsaPssSha384, "rsa-pss-sha384", true),
            (RsaPssSha512, "rsa-pss-sha512", true),
        ];
        for (scheme, name, rsa) in all {
            assert_eq!((scheme.as_str(), scheme.is_rsa()), (name, rsa));
        }
    }

    #[test]
    fn trust_anchors_count_what_they_could_not_use() {
        let mut roots = TrustAnchors::new();
        assert!(roots.is_empty());
        roots.add_der(b"not a certificate");
        roots.add_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        roots.add_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert_eq!((roots.len(), roots.rejected), (0, 3));
        assert!(roots.is_empty());
    }
}
