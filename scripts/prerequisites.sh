#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build Tally:
# libclang (bindgen needs it for the bundled RocksDB) and a C++ compiler.
# Idempotent: does nothing when everything is present.
set -euo pipefail

missing=()
if ! compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null \
   && ! compgen -G "/usr/lib/*/libclang*.so*" >/dev/null; then
  missing+=(libclang-dev)
fi
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)

if ((${#missing[@]})); then
  echo "prerequisites: installing ${missing[*]} with apt-get" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "prerequisites: cargo not found; install Rust 1.88 or newer (https://rustup.rs)" >&2
  exit 1
fi
