#!/usr/bin/env bash
# Makes the test PKI under tests/pki/ (committed; rerun only to change it). Valid from the day it
# is made for ten years; tests move the injected clock instead of waiting.
#   ca-rsa        RSA 2048 root            ca-ec     ECDSA P-256 root     other-ca  untrusted root
#   int-ec        P-384 intermediate under ca-ec
#   mx-rsa        mx1.example.test, leaf of ca-rsa (RSA 2048)
#   mx-ec         mx2.example.test + *.wild.example.test, leaf of int-ec (P-256)
#   mx-idn        mx.xn--bcher-kva.example, leaf of ca-rsa
#   cn-only       CN=mx1.example.test and no SAN, leaf of ca-rsa   (no Common Name fallback)
#   client-only   mx1.example.test with EKU clientAuth only        (server-auth EKU required)
#   other         mx1.example.test, leaf of other-ca               (not trusted)
set -euo pipefail
cd "$(dirname "$0")"
D=3650
root() { openssl req -x509 -newkey "$2" -nodes -keyout "$1.key" -out "$1.pem" -days $D -subj "/CN=$1" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; }
leaf() { # name key-spec issuer san eku [subject]
  openssl req -new -newkey "$2" -nodes -keyout "$1.key" -out "$1.csr" -subj "${6:-/CN=$1}" 2>/dev/null
  { [ -n "$4" ] && echo "subjectAltName=$4"; echo "extendedKeyUsage=$5"; echo "basicConstraints=CA:FALSE"; } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days $D -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
root ca-rsa rsa:2048
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-ec.key -out ca-ec.pem -days $D -subj /CN=ca-ec \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
root other-ca rsa:2048
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout int-ec.key -out int-ec.csr -subj /CN=int-ec 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > int-ec.ext
openssl x509 -req -in int-ec.csr -CA ca-ec.pem -CAkey ca-ec.key -CAcreateserial -out int-ec.pem -days $D -extfile int-ec.ext 2>/dev/null
rm -f int-ec.csr int-ec.ext
leaf mx-rsa rsa:2048 ca-rsa "DNS:mx1.example.test" serverAuth
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mx-ec.key -out mx-ec.csr -subj /CN=mx-ec 2>/dev/null
printf 'subjectAltName=DNS:mx2.example.test,DNS:*.wild.example.test\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > mx-ec.ext
openssl x509 -req -in mx-ec.csr -CA int-ec.pem -CAkey int-ec.key -CAcreateserial -out mx-ec.pem -days $D -extfile mx-ec.ext 2>/dev/null
rm -f mx-ec.csr mx-ec.ext
leaf mx-idn rsa:2048 ca-rsa "DNS:mx.xn--bcher-kva.example" serverAuth
leaf cn-only rsa:2048 ca-rsa "" serverAuth "/CN=mx1.example.test"
leaf client-only rsa:2048 ca-rsa "DNS:mx1.example.test" clientAuth
leaf other rsa:2048 other-ca "DNS:mx1.example.test" serverAuth
for f in *.pem; do openssl x509 -in "$f" -outform der -out "${f%.pem}.der"; done
rm -f *.srl *.key
openssl x509 -in mx-rsa.pem -noout -startdate -enddate > validity.txt
