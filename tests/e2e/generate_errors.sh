#!/usr/bin/env bash
# tfc generate: text in, text out with the GPT-2 tokenizer (random weights; the prompt is
# echoed and the continuation follows), the same seed gives the same sample, and every
# bad input is a message and exit 1.
set -euo pipefail
tfc=$1 root=$2
tok=$root/data/gpt2
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
small=(-D n_layer=1 -D n_embd=16 -D n_head=2 -D n_ctx=24)
gen() { "$tfc" generate "$root/models/gpt2.tfm" "$@"; }
expect_error() { # what, needle, args...
  local what=$1 needle=$2; shift 2
  local out rc=0
  out=$(gen "$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" -eq 1 ] && grep -qF -- "$needle" <<<"$out"; then ok "$what: $(tail -1 <<<"$out")"
  else bad "$what: exit $rc, message '$out' lacks '$needle'"; fi
}
if [ -s "$tok/encoder.json" ]; then
  out=$(gen "${small[@]}" --tokenizer "$tok" -p "Call me Ishmael." -n 8 --seed 5)
  again=$(gen "${small[@]}" --tokenizer "$tok" -p "Call me Ishmael." -n 8 --seed 5)
  if [[ "$out" == "Call me Ishmael."* ]] && [ "$out" = "$again" ]; then ok "sampled text, same seed same text: $out"
  else bad "sampled text: '$out' then '$again'"; fi
  ids=$(gen "${small[@]}" --tokenizer "$tok" -p "Call me Ishmael." -n 8 --seed 5 --ids)
  text=$("$tfc" detokenize --tokenizer "$tok" $ids)
  if [ "Call me Ishmael.$text" = "$out" ]; then ok "--ids are the streamed text's tokens"; else bad "--ids '$ids' vs '$out'"; fi
  expect_error "prompt too long for n_ctx" "need 31 positions, but the model has n_ctx = 24" "${small[@]}" --tokenizer "$tok" -p "Call me Ishmael." -n 25
  expect_error "no prompt" "give the prompt as -p TEXT or as --prompt-ids" "${small[@]}" --tokenizer "$tok"
  expect_error "bad tokenizer folder" "nowhere/encoder.json: cannot open" "${small[@]}" --tokenizer "$root/nowhere" -p hi
  out=$("$tfc" generate "$root/models/attention.tfm" --model multi_head --tokenizer "$tok" -p hi 2>&1) && bad "no decode model: succeeded" ||
    { grep -qF "no model named 'multi_head_decode'" <<<"$out" && ok "no decode model: $out" || bad "no decode model: '$out'"; }
else
  echo "SKIP the text cases: $tok has no tokenizer (run scripts/fetch-tokenizer.sh)"
fi
expect_error "no tokenizer" "--tokenizer DIR is required" "${small[@]}" -p hi
expect_error "bad temperature" "--temperature needs a number from 0 to 100, got 'hot'" "${small[@]}" --prompt-ids 1 --ids --temperature hot
expect_error "bad -n" "-n needs a number from 0 to 1.04858e+06, got '-3'" "${small[@]}" --prompt-ids 1 --ids -n -3
expect_error "bad prompt ids" "--prompt-ids needs token ids separated by spaces, got '1 x'" "${small[@]}" --prompt-ids "1 x" --ids
expect_error "prompt id out of range" "index" "${small[@]}" -D vocab=10 --prompt-ids "1 12" --ids -n 2
expect_error "unknown target" "unknown target 'tpu'" "${small[@]}" --prompt-ids 1 --ids --target tpu
echo "$fails failures"
[ "$fails" -eq 0 ]
