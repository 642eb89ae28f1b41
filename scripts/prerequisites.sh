#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and run Tally:
# libclang-dev (bindgen needs libclang and clang's own headers to generate the
# bundled RocksDB's bindings), a C++ compiler, make, curl, python3, kill, and
# pdftotext/pdftoppm (poppler-utils) for the invoice tests.
# Idempotent: does nothing when everything is present.
#
# Every check tests the exact file or command that the build uses. In
# particular libclang is checked as the file `libclang.so` that bindgen's
# loader (clang-sys) opens, never with a glob such as `libclang*.so*`: that
# also matches `libclang-cpp.so.14`, which Debian images ship without
# libclang-dev, and is not a library bindgen can use.
set -euo pipefail

# dpkg says whether a package is installed, not merely known.
dpkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# The libclang that bindgen loads: LIBCLANG_PATH if set, else the unversioned
# libclang.so that libclang-dev puts under /usr/lib/llvm-N/lib.
have_libclang() {
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    [ -e "$LIBCLANG_PATH/libclang.so" ] && return 0
  fi
  local f
  for f in /usr/lib/llvm-*/lib/libclang.so; do
    [ -e "$f" ] && return 0
  done
  return 1
}

missing=()
if command -v dpkg-query >/dev/null; then
  dpkg_installed libclang-dev || missing+=(libclang-dev)
elif ! have_libclang; then
  missing+=(libclang-dev)
fi
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
# The end-to-end tests send SIGTERM with kill(1), from procps.
command -v kill >/dev/null || missing+=(procps)
# The invoice tests read PDFs back with pdftotext and render a page with
# pdftoppm, both from poppler-utils: each command is checked by name.
if ! command -v pdftotext >/dev/null || ! command -v pdftoppm >/dev/null; then
  missing+=(poppler-utils)
fi

if ((${#missing[@]})); then
  echo "prerequisites: installing ${missing[*]} with apt-get" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! have_libclang; then
  echo "prerequisites: libclang.so not found under /usr/lib/llvm-*/lib after installing libclang-dev;" \
    "set LIBCLANG_PATH to the folder that holds libclang.so" >&2
  exit 1
fi

if ! command -v cargo >/dev/null; then
  echo "prerequisites: cargo not found; install Rust 1.88 or newer (https://rustup.rs)" >&2
  exit 1
fi
