#!/usr/bin/env python3
"""Golden ids from llama.cpp's llama-tokenize for our SentencePiece test vocabularies.

  spm_golden.py LLAMA_BIN_DIR SHARED_DIR [DATA_DIR]

DATA_DIR (default tests/data/tokenizer) holds spm-llama.gguf, spm-llama-noprefix.gguf and spm-phi3.gguf
(written by tools/make_spm_vocab.py); the golden file spm-llama-tokenize.txt is written there.
Made with llama.cpp (unslothai/llama.cpp) commit d32676d77426540327835040d5d3279728f0b4c8, CPU build.

For each vocabulary, each case, with and without --no-bos and --no-parse-special, runs
`llama-tokenize -m VOCAB -f CASE --ids --log-disable --no-escape` (llama-tokenize loads the vocabulary
only). llama-tokenize calls llama_tokenize(add_special = the vocab's add_bos_token && !--no-bos), which
the file records. Needs only the Python standard library.

File format: '#' comments; a line 'vocab V add_special A parse_special P' starts a block; then per case
a line with the text (printable ASCII other than '#' as is, backslash as \\\\, every other byte as \\xNN) and a line
with the ids. A case line 'wiki N' stands for the first N bytes of wikitext-2-test.txt, and its ids line
is 'count sha256' (the sha256 of the ids joined by single spaces).
"""
import hashlib
import os
import subprocess
import sys
import tempfile

VOCABS = ["spm-llama.gguf", "spm-llama-noprefix.gguf", "spm-phi3.gguf"]
WIKI_BYTES = 200_000
LLAMA_CPP_COMMIT = "d32676d77426540327835040d5d3279728f0b4c8"

CASES = [
    # whitespace: the space prefix, runs of spaces (the vocab has whitespace-only pieces), newlines, tabs
    "", " ", "  ", "   ", "    ", "\t", "\n", "\n\n\n", " \n ", "\r\n", "\t\n \t",
    "Hello world", " Hello world", "Hello  world", "Hello   world    ", "   leading spaces", "trailing spaces   ",
    "a b  c   d    e     f      g", "tabs\tand\t\ttabs\t", "line\nbreaks\n\n  indented\n\tcode\n",
    # U+2581 in the text is what a space becomes: llama.cpp does not tell them apart
    "\u2581", "x\u2581\u2581y \u2581z", "\u2581\u2581 \u2581",
    # digits (split_digits: one piece per digit)
    "0123456789", "3 33 333 3333 33333", "1.5e-10 + 2,000,000 = x", "version 3.11.7 (May  9 2026)",
    # code
    "def f(x):\n    return x ** 2  # square\n", "if (a != b && c <= d) {\n\treturn -1;\n}",
    "for i in range(10):\n        print(f\"{i:>3}\")", "#include <stdio.h>\nint main(){return 0;}",
    # unicode the vocab has: accents, Cyrillic, Greek, CJK, Hangul, Arabic, emoji
    "Gr\u00fc\u00dfe aus M\u00fcnchen! \u00c7a va tr\u00e8s bien.", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587\u6d4b\u8bd5 \ud55c\uad6d\uc5b4",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "emoji \U0001f600\U0001f680 \U0001f525!",
    # unicode it lacks: byte fallback (<0xXX> pieces) for rare letters, ZWJ sequences, variation
    # selectors, combining marks, astral letters, private use, non-characters
    "\u01c5 \ua642 \u16a0\u16c7\u16bb \u0f00",
    "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \U0001f44d\U0001f3fd",
    "e\u0301 n\u0303 a\u030a Z\u0351\u036b\u0343\u036a\u0302",
    "\ue000\U000f0000 \ufffd \ufeffbom", "\u00a0nbsp\u2003em\u3000ideographic\u200bzwsp",
    "\U0001f9ec\U0001fae0 \u4e28\u4e36\u4e3f", "\u0661\u0662\u0663 \u2167 \u00bd \u2460",
    # text that looks like tokens: special tokens, byte-token names, added tokens
    "<s>", "</s>", "<unk>", "<s> hi</s><unk> x", " <s>  two spaces", "<s><s>", "a</s>  b",
    "<|endoftext|>", "text<|endoftext|>  more", "a<|user|>  b <|end|>\n <|tool|>  c",
    "<|tool|>", "  <|tool|>  ", "<|tool|><|tool|>x", "<s", "<0x41> <0xE6><0x97>", "[PAD0] <|endoftext|",
    # control characters and invalid UTF-8 (bytes that start no sequence, truncated and overlong
    # sequences, surrogates, 0xF8 leads): llama.cpp splits by the lead byte's length
    b"\x00nul\x00", b"\x01\x02\x7f ctl", b"a\xff b\x80\x80 c\xe4\xb8", b"x\xc3", b"\xc0\xaf overlong \xe0\x80\xaf",
    b"\xed\xa0\x80 surrogate", b"\xf8\x88\x80\x80\x80 five", b"\xe6\x97", b"\xf0\x9f\x98",
]


def wiki_lines(shared_dir):
    """A few wikitext-2 lines: a heading, prose with @-@ and numbers, an empty line."""
    with open(os.path.join(shared_dir, "data", "wikitext-2-test.txt"), "rb") as f:
        lines = f.read(WIKI_BYTES).split(b"\n")
    picks = [1, 2, 4, 7, 11, 25, 40, 80]
    return [lines[i] + b"\n" for i in picks]


def escape_bytes(data):
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F and b != 0x23:  # '#' escaped: a line starting with it is a comment
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def tokenize(binary, vocab_path, case_path, no_bos, parse_special):
    command = [binary, "-m", vocab_path, "-f", case_path, "--ids", "--log-disable", "--no-escape"]
    if no_bos:
        command.append("--no-bos")
    if not parse_special:
        command.append("--no-parse-special")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    ids_line = [line for line in result.stdout.splitlines() if line.startswith("[")][-1]
    return ids_line.strip("[]").replace(",", " ").split()


def add_bos_of(vocab_path):
    import gguf  # only to read the flag the file records (PyPI gguf)
    field = gguf.GGUFReader(vocab_path).fields["tokenizer.ggml.add_bos_token"]
    return bool(field.contents())


def main():
    bin_dir, shared_dir = sys.argv[1:3]
    data_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "tokenizer")
    binary = os.path.join(bin_dir, "llama-tokenize")
    cases = [c.encode("utf-8") if isinstance(c, str) else c for c in CASES] + wiki_lines(shared_dir)
    with open(os.path.join(shared_dir, "data", "wikitext-2-test.txt"), "rb") as f:
        wiki = f.read(WIKI_BYTES)
    lines = [f"# Generated by tools/spm_golden.py: llama-tokenize of llama.cpp {LLAMA_CPP_COMMIT}",
             "# on the vocabularies of tools/make_spm_vocab.py. Format: see tools/spm_golden.py."]
    with tempfile.TemporaryDirectory() as tmp:
        case_path = os.path.join(tmp, "case.txt")
        for vocab in VOCABS:
            vocab_path = os.path.join(data_dir, vocab)
            # llama-tokenize adds special tokens only when the vocab's add_bos_token says so.
            for add_special in ([1, 0] if add_bos_of(vocab_path) else [0]):
                for parse_special in (1, 0):
                    lines.append(f"vocab {vocab} add_special {add_special} parse_special {parse_special}")
                    for data in cases:
                        with open(case_path, "wb") as f:
                            f.write(data)
                        ids = tokenize(binary, vocab_path, case_path, not add_special, parse_special)
                        lines += [escape_bytes(data), " ".join(ids)]
                    with open(case_path, "wb") as f:
                        f.write(wiki)
                    ids = " ".join(tokenize(binary, vocab_path, case_path, not add_special, parse_special))
                    lines += [f"wiki {WIKI_BYTES}", f"{len(ids.split())} {hashlib.sha256(ids.encode()).hexdigest()}"]
    out_path = os.path.join(data_dir, "spm-llama-tokenize.txt")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
