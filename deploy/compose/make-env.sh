#!/bin/sh
# Prints a fresh .env for compose.yaml: a random bearer token for the gateway and the query
# API with its sha256 digest (what `sluice hash-token` prints), and random passwords.
#
#   cd deploy/compose && ./make-env.sh > .env
set -eu

random_hex() {
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

token=$(random_hex)
digest=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
printf 'SLUICE_TOKEN=%s\n' "$token"
printf 'SLUICE_TOKEN_SHA256=sha256:%s\n' "$digest"
printf 'POSTGRES_PASSWORD=%s\n' "$(random_hex)"
printf 'GRAFANA_DB_PASSWORD=%s\n' "$(random_hex)"
printf 'GRAFANA_ADMIN_PASSWORD=%s\n' "$(random_hex)"
