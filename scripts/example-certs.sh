#!/usr/bin/env bash
# Makes the certificates the TLS examples use (examples/tls-edge.yaml, examples/tcp-sni-passthrough.yaml)
# in examples/certs/: a CA (ca.pem), server certificates for a.test and b.test, and a client
# certificate (client.pem/client.key) for the mTLS chain. ECDSA P-256, 30 days. Run from anywhere;
# nothing it writes is committed. An argument writes them to that directory instead (the tests do).
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/.." && pwd)/examples/certs}"
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=Legate Example CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
serial=1
issue() { # name, extended key usage, subjectAltName
  serial=$((serial + 1))
  openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$2" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$serial" -days 30 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue a.test serverAuth DNS:a.test
issue b.test serverAuth DNS:b.test
issue client clientAuth URI:spiffe://legate.example/client
echo "certificates in $dir: ca.pem, a.test.pem/.key, b.test.pem/.key, client.pem/.key"
