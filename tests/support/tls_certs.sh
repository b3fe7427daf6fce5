#!/bin/sh
# tls_certs.sh DIR — test certificates for the TLS tests and benches, made with the
# openssl CLI into DIR (EC P-256, valid 2 days; a few hundred ms):
#   ca.crt/.key, other-ca.crt/.key   two CAs
#   server.crt/.key                  signed by ca, for 127.0.0.1 and localhost
#   client.crt/.key                  a client certificate signed by ca (CN=client1)
#   rogue.crt/.key                   a client certificate signed by other-ca
#   enc.key                          server.key protected by the passphrase "secret"
# Prints "certs-made" last; exits non-zero on any failure (all output on stdout).
set -e
exec 2>&1
cd "$1"
printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > cli.ext
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$1.key" -out "$1.crt"
}
leaf() {   # name issuer extensions common-name
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=$4" -keyout "$1.key" -out "$1.csr"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
		-extfile "$3" -out "$1.crt"
}
ca ca
ca other-ca
leaf server ca srv.ext localhost
leaf client ca cli.ext client1
leaf rogue other-ca cli.ext rogue
openssl pkey -in server.key -aes256 -passout pass:secret -out enc.key
chmod 600 ./*.key
echo certs-made
