// The lab's certificate authorities and server certificates, made in memory with node:crypto
// (ECDSA P-256 keys, ecdsa-with-SHA256 signatures): no openssl, no files, no dependency.
//
// The certificates are what RFC 8461 §3.3 / §4.2 (and RFC 6125) expect of a server: names in
// subjectAltName dNSNames (never only in the Common Name), extendedKeyUsage serverAuth, issued by a v3
// CA with basicConstraints CA:TRUE and keyUsage keyCertSign (RFC 5280 §4.2.1.9, §4.2.1.3).

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import * as der from './der.js';

const DAY = 24 * 60 * 60 * 1000;
const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};
const SIGNATURE_ALGORITHM = der.sequence(der.oid(OID.ecdsaWithSha256)); // RFC 5758 §3.2: no parameters

const name = (commonName) =>
  der.sequence(
    der.set(der.sequence(der.oid(OID.organization), der.utf8String('mtasts lab'))),
    der.set(der.sequence(der.oid(OID.commonName), der.utf8String(commonName))),
  );

const extension = (id, critical, value) =>
  der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));

// RFC 5280 §4.2.1.2: any unique value will do; we hash the whole SubjectPublicKeyInfo.
const keyIdentifier = (spki) => createHash('sha1').update(spki).digest();

function certificate({ serial, issuer, subject, notBefore, notAfter, spki, signingKey, extensions }) {
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(serial),
    SIGNATURE_ALGORITHM,
    issuer,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    subject,
    spki,
    der.explicit(3, der.sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: signingKey, dsaEncoding: 'der' });
  return der.sequence(tbs, SIGNATURE_ALGORITHM, der.bitString(signature));
}

const pem = (derBytes) =>
  `-----BEGIN CERTIFICATE-----\n${derBytes.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;

// RFC 5280 §4.1.2.2: a positive serial of at most 20 octets.
const newSerial = () => Buffer.concat([Buffer.from([0x01]), randomBytes(15)]);

/** A self-signed CA: { name, certPem, certDer (Uint8Array), keyPem, [private fields] }. */
export function createAuthority(commonName, { notBefore, notAfter } = {}) {
  const now = Date.now();
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = name(commonName);
  const certDer = certificate({
    serial: newSerial(),
    issuer: subject,
    subject,
    notBefore: notBefore ?? new Date(now - DAY),
    notAfter: notAfter ?? new Date(now + 3650 * DAY),
    spki,
    signingKey: privateKey,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence(der.boolean(true))),
      // keyCertSign (bit 5) and cRLSign (bit 6): one octet 0b0000_0110, one unused bit.
      extension(OID.keyUsage, true, der.bitString(Buffer.from([0x06]), 1)),
      extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(spki))),
    ],
  });
  return {
    name: commonName,
    certPem: pem(certDer),
    certDer: new Uint8Array(certDer),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    privateKey,
    subject,
    keyId: keyIdentifier(spki),
  };
}

/**
 * A server certificate for `names` (DNS names) signed by `authority`, valid from `notBefore`
 * (default: a day ago) to `notAfter` (default: in 90 days).
 * Returns { names, certPem, keyPem, chainPem, certDer, notBefore, notAfter }; chainPem is the leaf
 * followed by the CA certificate. With `authority` null the certificate is self-signed (its own
 * issuer, signed with its own key; chainPem is the leaf alone).
 */
export function issueCertificate(authority, { names, notBefore, notAfter } = {}) {
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && n)) {
    throw new TypeError('issueCertificate: names must be a non-empty array of DNS names');
  }
  const now = Date.now();
  const from = notBefore ?? new Date(now - DAY);
  const until = notAfter ?? new Date(now + 90 * DAY);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const signer = authority ?? { subject: name(names[0]), privateKey, keyId: keyIdentifier(spki), certPem: '' };
  const certDer = certificate({
    serial: newSerial(),
    issuer: signer.subject,
    subject: name(names[0]),
    notBefore: from,
    notAfter: until,
    spki,
    signingKey: signer.privateKey,
    extensions: [
      extension(OID.basicConstraints, true, der.sequence()), // cA FALSE (the DEFAULT, so omitted)
      // digitalSignature (bit 0): one octet 0b1000_0000, seven unused bits.
      extension(OID.keyUsage, true, der.bitString(Buffer.from([0x80]), 7)),
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, der.sequence(...names.map((n) => der.implicitPrimitive(2, Buffer.from(n, 'ascii'))))),
      extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(spki))),
      extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicitPrimitive(0, signer.keyId))),
    ],
  });
  const certPem = pem(certDer);
  return {
    names: [...names],
    certPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    chainPem: certPem + signer.certPem,
    certDer: new Uint8Array(certDer),
    notBefore: from,
    notAfter: until,
  };
}
