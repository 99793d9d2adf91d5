#!/usr/bin/env bash
# A local stand-in for the images' base `node:20-bookworm-slim` (and `node:20-bookworm`), for a machine that
# reaches Debian's mirror and the npm registry but no container registry. It is Debian bookworm (debootstrap
# --variant=minbase, the package set of debian:bookworm-slim) with this machine's Node 20 and npm laid out as
# the official image has them (/usr/local/bin/node, /usr/local/lib/node_modules/npm, user `node` uid 1000),
# imported into podman under the official name, so infra/*/Dockerfile build unchanged:
#
#   infra/local-base.sh                                         # tags docker.io/library/node:20-bookworm-slim
#   infra/local-base.sh docker.io/library/node:20-bookworm      # the trainer's base (see infra/README.md)
#
# Needs root, podman, debootstrap (apt-get install podman debootstrap) and Node 20 on the PATH (NODE_BIN
# overrides). MIRROR (default http://deb.debian.org/debian) and WORK_DIR (default /var/tmp; the rootfs is
# made in a temporary folder there and removed) can be set. Behind a TLS-inspecting proxy, this machine's Node
# trusts its CA through NODE_EXTRA_CA_CERTS: the stand-in then gets the same file and variable, so `npm ci` in
# an image built on it reaches the registry as npm here does (the image inherits that variable: it is for
# local checks, not for a registry). With registry access, pull the real image instead.
set -euo pipefail

MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK_DIR=${WORK_DIR:-/var/tmp}
NODE_BIN=${NODE_BIN:-$(command -v node || true)}
TAGS=("$@")
[ ${#TAGS[@]} -gt 0 ] || TAGS=(docker.io/library/node:20-bookworm-slim)

fail() { echo "local-base.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap)"
for tool in podman debootstrap; do command -v "$tool" >/dev/null || fail "$tool not found: apt-get install -y podman debootstrap"; done
[ -n "$NODE_BIN" ] || fail "node not found: set NODE_BIN to a Node 20 binary"
node_version=$("$NODE_BIN" --version)
case "$node_version" in v20.*) ;; *) fail "$NODE_BIN is Node $node_version; the images' base is Node 20" ;; esac
# npm as installed next to this node (npm's bin/npm-cli.js lives in <prefix>/lib/node_modules/npm).
npm_dir=${NPM_DIR:-$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")}
[ -f "$npm_dir/bin/npm-cli.js" ] || fail "npm not found next to $NODE_BIN: set NPM_DIR to npm's package folder"

extra_ca=()
rootfs=$(mktemp -d "$WORK_DIR/cir-local-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap bookworm (minbase) from $MIRROR" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
  || { tail -20 "$rootfs.log" >&2; rm -f "$rootfs.log"; fail "debootstrap failed"; }
rm -f "$rootfs.log"

# APT sources as debian:bookworm-slim has them (updates and security too), and no downloaded packages.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

# Node and npm where the official image puts them, and its `node` user.
install -m 0755 "$NODE_BIN" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  [ -r "$NODE_EXTRA_CA_CERTS" ] || fail "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS is not a readable file"
  install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$rootfs/usr/local/share/cir-local-base/extra-ca.pem"
  extra_ca=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/cir-local-base/extra-ca.pem')
fi
# In the rootfs, without this machine's NODE_EXTRA_CA_CERTS path (Node warns about a missing file).
in_rootfs() { chroot "$rootfs" env -u NODE_EXTRA_CA_CERTS "$@"; }
in_rootfs groupadd --gid 1000 node
in_rootfs useradd --uid 1000 --gid node --shell /bin/bash --create-home node
in_rootfs node --version >/dev/null || fail "node does not run in the bookworm rootfs"
in_rootfs npm --version >/dev/null || fail "npm does not run in the bookworm rootfs"

echo "importing as ${TAGS[0]} (node $node_version, npm $(in_rootfs npm --version))" >&2
tar -C "$rootfs" --numeric-owner -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'CMD ["node"]' ${extra_ca[@]+"${extra_ca[@]}"} \
  --message "local stand-in built by infra/local-base.sh" - "${TAGS[0]}" >/dev/null
for tag in "${TAGS[@]:1}"; do podman tag "${TAGS[0]}" "$tag"; done
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "${TAGS[0]}"
