#!/usr/bin/env bash
# Installs the Debian packages ftbench needs, if any is missing: libnuma (CPU/NUMA pinning) and
# jemalloc (the harness's allocator), and any package named as an argument (scripts/peers/run.sh
# adds its peers'). Uses sudo when not root. Safe to run repeatedly.
set -euo pipefail
packages=(libnuma-dev libjemalloc-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "ftbench: missing ${missing[*]} and no apt-get to install them; install them by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "ftbench: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
