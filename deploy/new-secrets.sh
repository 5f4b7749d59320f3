#!/bin/sh
# new-secrets.sh DIR: writes a fresh set of the secrets a Kibubu fleet
# shares into DIR (mode 0700, every file 0600), in the layout of
# deploy/secrets.example, which compose.yaml reads from deploy/secrets and
# the Kubernetes overlay turns into Secrets. Needs openssl and go.
#
# Keep the pepper with the database backups: PINs set under one pepper do
# not verify under another. Every wallet must have the same pepper, every
# gateway the same session key.
set -eu
dir=${1:?usage: new-secrets.sh DIR}
umask 077
mkdir -p "$dir"
cd "$dir"

# 32 random bytes each: the PIN pepper (wallets), the USSD session key and
# the SMS webhook secret (gateways).
for f in pepper session.key sms.secret; do
	openssl rand -out "$f" 32
done
# The PostgreSQL password, and the URL the wallets, notifiers and the
# migration use (--db from KIBUBU_DB_FILE).
pw=$(openssl rand -hex 24)
printf '%s' "$pw" >postgres-password
printf 'postgres://kibubu:%s@postgres:5432/kibubu?sslmode=disable\n' "$pw" >db-url
# The aggregators' shared secret (--ussd-auth, KIBUBU_USSD_AUTH_FILE).
printf 'africastalking:secret=%s\n' "$(openssl rand -hex 24)" >ussd-auth
# Twilio's auth token: replace with the account's (TWILIO_AUTH_TOKEN_FILE).
printf 'replace-with-the-twilio-auth-token\n' >twilio-auth-token

# One nkey per role: the seed for the processes (--nats-nkey), the public
# key for the NATS servers (nats-users.env, not secret).
: >nats-users.env
for role in wallet gateway notify operator; do
	go run github.com/nats-io/nkeys/nk@v0.4.16 -gen user -pubout >"nats-$role.nk.tmp"
	head -n 1 "nats-$role.nk.tmp" >"nats-$role.nk"
	upper=$(echo "$role" | tr a-z A-Z)
	printf 'KIBUBU_NATS_%s_NKEY=%s\n' "$upper" "$(sed -n 2p "nats-$role.nk.tmp")" >>nats-users.env
	rm "nats-$role.nk.tmp"
done
chmod 644 nats-users.env

# TLS for NATS, clients and routes: a CA and one server certificate for the
# three compose nodes (and loopback). The CA key is not kept: make a new
# set to add a node. On Kubernetes cert-manager issues these instead.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj "/CN=kibubu example NATS CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=nats" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
	-extfile server.ext -out server.crt 2>/dev/null
rm -f ca.key ca.srl server.csr server.ext
chmod 644 ca.crt server.crt
echo "wrote $(pwd)"
