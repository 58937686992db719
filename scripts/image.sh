#!/usr/bin/env bash
# Builds the committed Dockerfile into an image, as `make image` does.
#
#   scripts/image.sh [build]   the image IMAGE (default sluice:dev) from the Dockerfile alone
#   scripts/image.sh base      only make sure a base image exists; print its reference
#
# The engine is docker where a docker engine answers, else podman (ENGINE=docker|podman
# overrides). The base is the Dockerfile's PYTHON_IMAGE (python:3.11-slim-bookworm): used
# when it is present or can be pulled. Where no registry can be reached, a base of the same
# Debian release is made locally instead (debootstrap, as root) and kept: as the image
# localhost/sluice-base:<tag>, and as a root filesystem tarball in SLUICE_CACHE
# (~/.cache/sluice) from which a fresh image store gets it back in seconds. The tag is a
# hash of the recipe and of this machine's CA bundle, so a changed recipe makes a new base.
#
# The last line on stdout names the base and how it was had: `base REF cached|pulled|built`.
set -euo pipefail

cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-sluice:dev}
# The Dockerfile's own default, named in full: podman resolves no short names by default.
PYTHON_IMAGE=${PYTHON_IMAGE:-docker.io/library/$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)}
SLUICE_CACHE=${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# What the Dockerfile's stages need of a base: Python with venv and headers (the official
# images carry the headers), `python` on PATH, and CA certificates for apt and pip.
INCLUDE=python3,python3-venv,python3-dev,python-is-python3,ca-certificates
# Where PyPI is reached through a TLS proxy (as on the team's machines), pip in the local
# base needs the host's CAs: it gets this bundle.
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}

say() { echo "image: $*" >&2; }
die() { say "$*"; exit 1; }

pick_engine() {
  if [[ -n ${ENGINE:-} ]]; then
    echo "$ENGINE"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  elif command -v podman >/dev/null; then
    echo podman
  else
    die "no container engine: install podman (and runc), or run a docker engine"
  fi
}

ENGINE=$(pick_engine)
case $ENGINE in
  # crun refuses some cgroup layouts that runc accepts; the ulimits stay within what a
  # sandboxed host allows (podman's defaults do not); host networking reaches PyPI and apt
  # through the host's own resolver and proxy; the docker format keeps the HEALTHCHECK,
  # which OCI images cannot hold.
  podman) engine=(podman --runtime runc)
          build_flags=(--format docker --ulimit nofile=20000:20000 --ulimit nproc=4096:4096
                       --network host) ;;
  docker) engine=(docker); build_flags=() ;;
  *) die "ENGINE must be docker or podman, not '$ENGINE'" ;;
esac

exists() { "${engine[@]}" image inspect "$1" >/dev/null 2>&1; }
image_id() { "${engine[@]}" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

local_base_tag() {
  [[ -r $HOST_CA ]] || die "no CA bundle at $HOST_CA for the local base: set HOST_CA"
  { echo "$SUITE $INCLUDE $DEBIAN_MIRROR"; cat "$HOST_CA"; sed -n '/^make_rootfs()/,/^}/p' "$0"; } |
    sha256sum | cut -c1-12
}

# make_rootfs ROOT: a minimal Debian with Python, trusting the host's CAs for pip.
make_rootfs() {
  local root=$1
  [[ $(id -u) == 0 ]] ||
    die "debootstrap needs root to make the local base ($PYTHON_IMAGE cannot be pulled)"
  command -v debootstrap >/dev/null || die "debootstrap is missing (Debian package debootstrap)"
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$DEBIAN_MIRROR" >&2
  install -m 0644 "$HOST_CA" "$root/usr/local/share/host-ca.crt"
  printf '[global]\ncert = /usr/local/share/host-ca.crt\n' > "$root/etc/pip.conf"
  # apt's lists and caches are the build stage's to fetch; they only weigh the base down.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb
}

# ensure_base: print the base reference and how it was had.
ensure_base() {
  if exists "$PYTHON_IMAGE"; then
    echo "base $PYTHON_IMAGE cached"
    return
  fi
  local ref
  ref="localhost/sluice-base:$SUITE-$(local_base_tag)"
  if exists "$ref"; then
    echo "base $ref cached"
  elif "${engine[@]}" pull "$PYTHON_IMAGE" >&2 2>/dev/null; then
    echo "base $PYTHON_IMAGE pulled"
  else
    say "cannot pull $PYTHON_IMAGE: using a local $SUITE base, $ref"
    local tarball="$SLUICE_CACHE/${ref##*:}.tar" how=cached
    if [[ ! -s $tarball ]]; then
      how=built
      mkdir -p "$SLUICE_CACHE"
      local root
      root=$(mktemp -d "$SLUICE_CACHE/rootfs.XXXXXX")
      trap "rm -rf '$root' '$tarball.part'" EXIT
      make_rootfs "$root"
      tar -C "$root" -c . > "$tarball.part"
      mv "$tarball.part" "$tarball"
      rm -rf "$root"
      trap - EXIT
    fi
    "${engine[@]}" import "$tarball" "$ref" >/dev/null
    echo "base $ref $how"
  fi
}

build_image() {
  local base_line base previous
  base_line=$(ensure_base)
  echo "$base_line"
  base=$(cut -d' ' -f2 <<<"$base_line")
  say "building $IMAGE with $ENGINE on $base"
  previous=$(image_id "$IMAGE")
  "${engine[@]}" build "${build_flags[@]}" --build-arg "PYTHON_IMAGE=$base" \
    -t "$IMAGE" -f Dockerfile . >&2
  # The image this tag named before is left untagged: drop it, unless a container uses it.
  if [[ -n $previous && $previous != "$(image_id "$IMAGE")" ]]; then
    "${engine[@]}" rmi "$previous" >/dev/null 2>&1 || true
  fi
  echo "image $IMAGE"
}

case ${1:-build} in
  base) ensure_base ;;
  build) build_image ;;
  *) die "usage: $0 [build|base]" ;;
esac
