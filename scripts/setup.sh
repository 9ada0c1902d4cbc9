#!/usr/bin/env bash
# Installs everything tfc needs to build and test on a fresh Debian 12 machine.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  llvm-16-dev llvm-16-tools          # LLVM C API; FileCheck-16 and lit for the IR tests
  libcmocka-dev                      # unit tests
  libcjson-dev                       # safetensors headers
  libpcre2-dev                       # GPT-2 tokenizer pre-tokenizer
  libvulkan-dev glslang-dev mesa-vulkan-drivers vulkan-validationlayers
  python3 python3-numpy python3-torch # oracles in tests only
  libopenblas0-pthread               # bench/: NumPy's BLAS, the peer the matmul is measured against
)

# npm fetches the data sets (scripts/fetch-data.sh); Debian's package unless a Node.js
# installation that brings its own npm is already there.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
