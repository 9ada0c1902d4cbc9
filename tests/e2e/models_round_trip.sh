#!/usr/bin/env bash
# Every model and training script in models/ compiles, and its IR survives print -> parse -> print byte for
# byte, both before (-O0) and after the default pipeline; `tfc opt` with no passes
# prints its input unchanged.
set -euo pipefail
tfc=$1 root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
for file in "$root"/models/*.tfm; do
  if grep -qE '^train ' "$file"; then # a training script: its whole step round-trips
    name="$(basename "$file") (training script)"
    if ! (cd "$root" && "$tfc" compile "$file" --emit=ir -o "$tmp/a.tfir" 2>"$tmp/err"); then
      if grep -q "cannot open\|No such file" "$tmp/err"; then echo "SKIP $name: its data is not fetched (scripts/fetch-data.sh)"; continue; fi
      echo "FAIL $name: does not compile"; cat "$tmp/err"; fails=$((fails + 1)); continue
    fi
    "$tfc" opt "$tmp/a.tfir" -o "$tmp/b.tfir"
    if cmp -s "$tmp/a.tfir" "$tmp/b.tfir"; then
      echo "ok   $name ($(grep -c ' = ' "$tmp/a.tfir") lines)"; passes=$((passes + 1))
    else
      echo "FAIL $name: round trip differs"; fails=$((fails + 1))
    fi
    continue
  fi
  for model in $("$tfc" compile "$file" --list-models); do
    for opt in -O0 -O2; do
      name="$(basename "$file") --model $model $opt"
      if ! "$tfc" compile "$file" --model "$model" $opt --emit=ir -o "$tmp/a.tfir" 2>"$tmp/err"; then
        echo "FAIL $name: does not compile"; cat "$tmp/err"; fails=$((fails + 1)); continue
      fi
      "$tfc" opt "$tmp/a.tfir" -o "$tmp/b.tfir"
      "$tfc" opt "$tmp/b.tfir" -o "$tmp/c.tfir"
      if cmp -s "$tmp/a.tfir" "$tmp/b.tfir" && cmp -s "$tmp/b.tfir" "$tmp/c.tfir"; then
        echo "ok   $name ($(grep -c ' = ' "$tmp/a.tfir") lines)"; passes=$((passes + 1))
      else
        echo "FAIL $name: round trip differs"; diff "$tmp/a.tfir" "$tmp/b.tfir" | head; fails=$((fails + 1))
      fi
    done
  done
done
# Every valid IR test file: print(parse(print(M))) == print(M). (ir-errors/ holds invalid IR.)
while IFS= read -r file; do
  name=${file#"$root/"}
  "$tfc" opt "$file" -o "$tmp/a.tfir" && "$tfc" opt "$tmp/a.tfir" -o "$tmp/b.tfir"
  if cmp -s "$tmp/a.tfir" "$tmp/b.tfir"; then
    echo "ok   $name"; passes=$((passes + 1))
  else
    echo "FAIL $name: round trip differs"; diff "$tmp/a.tfir" "$tmp/b.tfir" | head; fails=$((fails + 1))
  fi
done < <(find "$root/tests/lit" -name '*.tfir' -not -path '*/ir-errors/*' | sort)
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$passes" -gt 0 ]
