#!/usr/bin/env bash
# Makes a throwaway PKI for the TLS tests of every language (docs/testing.md "TLS"):
#   DIR/ca.pem                     a CA (its key ca.key stays in DIR)
#   DIR/server.pem, server.key     signed by it, for IP:127.0.0.1 and DNS:localhost
#   DIR/client.pem, client.key     signed by it, for client-certificate tests
# P-256 keys (fast), mode 0600, valid 30 days. Usage: make-test-certs.sh DIR
set -euo pipefail
dir="${1:?usage: make-test-certs.sh DIR}"
mkdir -p "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 30 -subj "/CN=Keel Test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
make_cert() { # name extendedKeyUsage [subjectAltName]
  local name="$1" usage="$2" san="${3:-}"
  openssl req "${ec[@]}" -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=keel-$name" 2>/dev/null
  { echo "basicConstraints=CA:FALSE"; echo "extendedKeyUsage=$usage"; [ -n "$san" ] && echo "subjectAltName=$san"; } >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/$name.pem" -days 30 -extfile "$dir/$name.ext" 2>/dev/null
  chmod 600 "$dir/$name.key" "$dir/ca.key"
}
make_cert server serverAuth "IP:127.0.0.1,DNS:localhost"
make_cert client clientAuth
