#!/bin/sh
# Prints a fresh .env for compose.yaml: the project's name, a random bearer token for the
# gateway and the query API with its sha256 digest (what `sluice hash-token` prints), and
# random passwords.
#
#   cd deploy/compose && ./make-env.sh > .env
set -eu

random_hex() {
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# sha256sum (GNU coreutils), else shasum (macOS).
sha256_hex() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi |
        cut -d' ' -f1
}

token=$(random_hex)
digest=$(printf '%s' "$token" | sha256_hex)
printf 'COMPOSE_PROJECT_NAME=sluice\n'
printf 'SLUICE_TOKEN=%s\n' "$token"
printf 'SLUICE_TOKEN_SHA256=sha256:%s\n' "$digest"
printf 'POSTGRES_PASSWORD=%s\n' "$(random_hex)"
printf 'GRAFANA_DB_PASSWORD=%s\n' "$(random_hex)"
printf 'GRAFANA_ADMIN_PASSWORD=%s\n' "$(random_hex)"
