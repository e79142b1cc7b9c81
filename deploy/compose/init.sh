#!/bin/sh
# One-shot set-up for deploy/compose.yaml, run by its `init` service in an
# Alpine container. It does what the README's "Deployment" section does by
# hand, and only what is missing, so a restart keeps keys and users:
#   /data/keys/signing.pem   ES256 key (PKCS#8), owner 65532 (the image's nonroot), mode 0600
#   /data/keys/signing.crt   its self-signed certificate, valid 1 year
#   /data/htpasswd           the user admin (bcrypt, cost 10)
#   /data/htpasswd.admin-password   admin's password, mode 0600 (read it with
#       docker compose -f deploy/compose.yaml run --rm --no-deps init cat /data/htpasswd.admin-password)
#   /cert/signing.crt        the certificate alone, for the registry's rootcertbundle
set -eu
apk add --no-cache openssl apache2-utils >/dev/null
umask 077
mkdir -p /data/keys /cert

if [ ! -s /data/keys/signing.pem ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out /data/keys/signing.pem
  openssl req -new -x509 -key /data/keys/signing.pem -out /data/keys/signing.crt \
    -days 365 -subj "/CN=tollgate token signing"
  echo "init: created a signing key and certificate"
fi
if [ ! -s /data/htpasswd ]; then
  openssl rand -base64 18 > /data/htpasswd.admin-password
  htpasswd -i -B -C 10 -c /data/htpasswd admin < /data/htpasswd.admin-password 2>/dev/null
  echo "init: created the user admin; its password is in /data/htpasswd.admin-password"
fi

cp /data/keys/signing.crt /cert/signing.crt
chmod 0644 /cert/signing.crt
chown -R 65532:65532 /data
chmod 0600 /data/keys/signing.pem
