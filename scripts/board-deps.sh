#!/usr/bin/env bash
# Installs what building and testing amq for aarch64 boards needs on Debian:
# the cross compiler, the aarch64 C library and qemu-user (scripts/test-board.sh
# runs this first). Idempotent; prints nothing when everything is there.
set -euo pipefail
pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user cmake)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
