#!/usr/bin/env bash
# Test PKI of the tls scenario, made on the control node in the scenario's ephemeral directory (prepare.yml):
#   acme-ca / acme-listener   Pebble's HTTPS listener (the Debian package ships no certificate); certbot and
#                             the tests trust acme-ca.pem
#   origin-ca / origin        stand-in for Cloudflare's Origin CA and the origin certificate of the cf domain
#   pull-ca / pull-client     stand-in for Cloudflare's Authenticated Origin Pulls CA and its client certificate
#   rogue-ca / rogue-client   a client certificate from another CA (must be refused)
# Usage: make-test-pki.sh <directory> <cf domain>. Existing files are kept (the scenario reuses them).
set -euo pipefail

dir=$1
cf_domain=$2
mkdir -p "$dir"
cd "$dir"

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
}

# new_ca <name> <subject>
new_ca() {
    [[ -s $1.pem ]] && return 0
    new_key "$1"
    openssl req -x509 -new -key "$1.key" -subj "$2" -days 30 -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

# new_leaf <name> <ca> <subject> <extendedKeyUsage> [subjectAltName]
new_leaf() {
    [[ -s $1.pem ]] && return 0
    new_key "$1"
    local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$4"
    if [[ -n ${5:-} ]]; then
        ext+="
subjectAltName=$5"
    fi
    openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 -out "$1.pem" \
        -extfile <(printf '%s\n' "$ext") 2>/dev/null
    rm -f "$1.csr"
}

new_ca acme-ca "/CN=molecule tls test ACME listener CA"
# 172.30.80.1: the host on the stack's frontend network (FRONTEND_SUBNET), where certbot's container reaches it.
new_leaf acme-listener acme-ca "/CN=pebble" serverAuth \
    "DNS:localhost,DNS:pebble,IP:127.0.0.1,IP:172.30.80.1"

new_ca origin-ca "/O=molecule tls test/CN=Origin CA stand-in"
new_leaf origin origin-ca "/O=molecule tls test/CN=$cf_domain" serverAuth "DNS:$cf_domain"

new_ca pull-ca "/O=molecule tls test/CN=Origin Pull CA stand-in"
new_leaf pull-client pull-ca "/O=molecule tls test/CN=origin-pull client" clientAuth

new_ca rogue-ca "/O=someone else/CN=rogue CA"
new_leaf rogue-client rogue-ca "/O=someone else/CN=rogue client" clientAuth

chmod 0600 ./*.key
