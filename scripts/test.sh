#!/usr/bin/env bash
# Fetches the data sets, builds tfc with warnings as errors and runs every test; then
# again under ASan+UBSan.
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() { # build-dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DTFC_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && TFC_VERIFY_EACH=1 ctest --output-on-failure -j"$jobs")
}

# The real data sets (Moby Dick, SpamAssassin, GPT-2's vocabulary) for the learning and
# tokenizer tests; without them (offline) those tests print SKIP and why.
scripts/fetch-data.sh || echo "warning: could not fetch the data sets; tests that need them will SKIP"

run_suite build
if [ "${1:-}" != "--fast" ]; then
  echo "== again under AddressSanitizer + UBSan (learning tests skipped: too slow there) =="
  TFC_SKIP_SLOW=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DTFC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
fi
