"""Writes a varied, deterministic UTF-8 test corpus for the GPT-2 tokenizer to OUTFILE:
prose with contractions, numbers, whitespace runs of every kind, CJK, emoji (ZWJ
sequences, skin tones, flags), many scripts, combining marks, long words, code, and
Unicode whitespace and digits outside ASCII. Used by tests/e2e/tokenizer_node.sh.

usage: tokenizer_corpus.py OUTFILE [TARGET_BYTES]
"""
import random
import sys

out, target = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
r = random.Random(7)
words = ("the of and to in is was that it he for on with as his at by had this be not "
         "which from or but whale ship sea captain Ahab Ishmael Queequeg harpoon white "
         "ocean voyage Nantucket sperm leviathan mast deck sail water boat crew").split()
contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'x", "'", "''"]
ws = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t\t ", "\u00a0", "\u2003",
      "\u3000", "\u2028", "\u202f", "\ufeff", "\u0085", "\u001c", "\u000b", "\u000c",
      "    \n\n   ", " \t \n"]
scripts = [(0x4E00, 0x9FFF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7A3),
           (0x0400, 0x04FF), (0x0370, 0x03FF), (0x0600, 0x06FF), (0x0900, 0x097F),
           (0x0E00, 0x0E7F), (0x05D0, 0x05EA), (0x00C0, 0x024F), (0x1E00, 0x1EFF),
           (0x2200, 0x22FF), (0x2500, 0x257F), (0x0300, 0x036F), (0xFF01, 0xFF5E)]
emoji = ["😀", "🐳", "🐋", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸", "❤️", "✨", "🤖", "🧑🏿‍🚀", "⚓", "🌊"]
digits = ["0", "42", "3.14159", "1,000,000", "2024-01-31", "+1 (555) 010-9999", "0x1F",
          "١٢٣", "१२३", "１２３", "²", "½", "Ⅻ", "10e-5", "99.9%", "$12.50"]
punct = ["!", "?", "...", "—", "–", "\"", "(", ")", "[", "]", "{", "}", ";", ":", ",", ".",
         "!!!", "?!", "@", "#", "&", "*", "~", "`", "<|endoftext|>", "->", "=>", "::", "//"]
code = ["def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
        "https://example.org/path?q=1&r=two#frag", "user@example.com", "C:\\Windows\\System32",
        "    indented    code   ", "snake_case_name CamelCaseName kebab-case-name"]


def rand_script():
    lo, hi = r.choice(scripts)
    return "".join(chr(r.randint(lo, hi)) for _ in range(r.randint(1, 12)))


def piece():
    k = r.random()
    if k < 0.45:
        w = r.choice(words)
        if r.random() < 0.1: w = w.capitalize()
        if r.random() < 0.08: w = w.upper()
        if r.random() < 0.12: w += r.choice(contractions)
        return w
    if k < 0.55: return r.choice(digits)
    if k < 0.63: return r.choice(punct)
    if k < 0.73: return rand_script()
    if k < 0.78: return r.choice(emoji) * r.randint(1, 3)
    if k < 0.80: return r.choice(code)
    if k < 0.805:  # long words
        return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(50, 800)))
    if k < 0.807: return r.choice(["a", "x", "ab", "9"]) * r.randint(100, 600)
    return r.choice(ws)


parts, size = [], 0
while size < target:
    p = piece()
    sep = r.choice(ws) if r.random() < 0.15 else " " if r.random() < 0.8 else ""
    parts.append(p + sep)
    size += len((p + sep).encode())
with open(out, "w", encoding="utf-8", newline="") as f:
    f.write("".join(parts))
