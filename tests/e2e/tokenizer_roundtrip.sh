#!/usr/bin/env bash
# tfc tokenize | tfc detokenize gives any bytes back byte for byte (random bytes, so
# mostly invalid UTF-8; text cut in the middle of a character), 1 MB of text encodes in
# well under a second (the times are printed; the bound asserted is a loose 5 s, to catch
# quadratic behaviour, not to benchmark), and every bad input is a message and exit 1.
set -euo pipefail
tfc=$1 root=$2
tok=$root/data/gpt2
if [ ! -s "$tok/encoder.json" ] || [ ! -s "$tok/vocab.bpe" ]; then
  echo "SKIP: $tok has no tokenizer (run scripts/fetch-tokenizer.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
$py - "$tmp" <<'PY'
import random, sys
d = sys.argv[1]; r = random.Random(3)
open(f"{d}/random.bin", "wb").write(bytes(r.randrange(256) for _ in range(200000)))
s = "héllo wörld 日本 😀 ".encode() * 2000
open(f"{d}/cut.bin", "wb").write(s[:-3] + b"\xf0\x9f" + b"\xc3")
open(f"{d}/mb.txt", "w").write(" ".join(r.choice(["whale", "sea", "Ahab's", "1851", "the", "—", "😀"]) for _ in range(200000))[:1 << 20])
open(f"{d}/longword.txt", "w").write("".join(r.choice("abcdefghij") for _ in range(1 << 20)))
PY
for f in random.bin cut.bin mb.txt longword.txt; do
  start=$(date +%s.%N)
  "$tfc" tokenize --tokenizer "$tok" - <"$tmp/$f" >"$tmp/$f.ids"
  t=$($py -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$start" "$(date +%s.%N)")
  if "$tfc" detokenize --tokenizer "$tok" - <"$tmp/$f.ids" | cmp -s - "$tmp/$f"; then
    ok "$f: $(wc -c <"$tmp/$f") bytes -> $(wc -w <"$tmp/$f.ids") ids in ${t}s (with loading), round trip exact"
  else
    bad "$f: round trip differs"
  fi
  $py -c "import sys; sys.exit(0 if float(sys.argv[1]) < 5 else 1)" "$t" || bad "$f: ${t}s is far too slow"
done

expect_error() { # what, needle, command...
  local what=$1 needle=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" -eq 1 ] && grep -qF -- "$needle" <<<"$out"; then ok "$what: $out"
  else bad "$what: exit $rc, message '$out' lacks '$needle'"; fi
}
mkdir -p "$tmp/t"
cp "$tok/encoder.json" "$tok/vocab.bpe" "$tmp/t/"
expect_error "no --tokenizer" "--tokenizer DIR is required" "$tfc" tokenize hello
expect_error "no text" "no TEXT given" "$tfc" tokenize --tokenizer "$tok"
expect_error "missing folder" "$tmp/none/encoder.json: cannot open" "$tfc" tokenize --tokenizer "$tmp/none" hi
expect_error "id out of range" "'50257' is not a token id (ids are 0 to 50256)" "$tfc" detokenize --tokenizer "$tok" 1 50257
expect_error "id not a number" "'x1' is not a token id" "$tfc" detokenize --tokenizer "$tok" x1
expect_error "negative id" "'-5' is not a token id" "$tfc" detokenize --tokenizer "$tok" -5
expect_error "unknown option" "unknown option '--nope'" "$tfc" tokenize --tokenizer "$tok" --nope hi
head -c 1000 "$tok/encoder.json" >"$tmp/t/encoder.json"
expect_error "truncated encoder.json" "encoder.json: not a JSON object" "$tfc" tokenize --tokenizer "$tmp/t" hi
printf '{"a": 0, "b": -1}' >"$tmp/t/encoder.json"
expect_error "negative id in encoder.json" "token 'b' has id out of range" "$tfc" tokenize --tokenizer "$tmp/t" hi
printf '{"a": 0, "b": 0}' >"$tmp/t/encoder.json"
expect_error "id given twice" "id 0 is given to two tokens" "$tfc" tokenize --tokenizer "$tmp/t" hi
printf '{"a": 0}' >"$tmp/t/encoder.json"
expect_error "byte without a token" "byte 0x00 has no token of its own" "$tfc" tokenize --tokenizer "$tmp/t" hi
cp "$tok/encoder.json" "$tmp/t/"
printf '#version: 0.2\nĠ t\nthree parts here\n' >"$tmp/t/vocab.bpe"
expect_error "bad merge line" "vocab.bpe:3: a merge is two tokens separated by one space" "$tfc" tokenize --tokenizer "$tmp/t" hi
printf '#version: 0.2\nĠ t\nĠthe Ġthe\n' >"$tmp/t/vocab.bpe"
expect_error "merge result unknown" "vocab.bpe:3: merge 'Ġthe Ġthe' makes a token that is not in encoder.json" "$tfc" tokenize --tokenizer "$tmp/t" hi
echo "$fails failures"
[ "$fails" -eq 0 ]
