#!/usr/bin/env bash
# Installs every Debian 12 package flowsentry needs to build, run and test.
# Idempotent: packages already present are left alone; apt only runs when something is missing.
# Usage: tools/install-deps.sh [--with-suricata]   (tests install Suricata too: it is the parity reference)
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libdpdk-dev dpdk libhyperscan-dev libpcre2-dev
  prometheus-cpp-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libpcap-dev libnftables-dev zlib1g-dev libssl-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcpp-httplib-dev curl iproute2 nftables prometheus exabgp bird2
)
WITH_SURICATA=0
for a in "$@"; do
  case "$a" in
    --with-suricata) WITH_SURICATA=1 ;;
    *) echo "install-deps: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$WITH_SURICATA" -eq 1 ]; then
  if ! command -v suricata >/dev/null 2>&1 || ! suricata -V 2>/dev/null | grep -q 'version 7'; then
    list=/etc/apt/sources.list.d/bookworm-backports.list
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
    fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports suricata
  fi
fi
echo "install-deps: all dependencies present"
