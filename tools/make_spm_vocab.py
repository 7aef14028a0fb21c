#!/usr/bin/env python3
"""A small SentencePiece vocabulary of our own, as vocab-only GGUFs, for the SPM tokenizer tests.

  make_spm_vocab.py SHARED_DIR OUT_DIR

llama.cpp's ggml-vocab-llama-spm.gguf / ggml-vocab-phi-3.gguf may not be shipped in this repository,
so this trains a BPE SentencePiece model shaped like llama's tokenizer.model (byte_fallback, split
digits, identity normalization, whitespace kept, dummy prefix) on a slice of wikitext-2 plus code and
multilingual text, and writes what convert_hf_to_gguf.py's _set_vocab_sentencepiece writes for a llama
SPM model: tokenizer.ggml.model "llama", pre "default", tokens, scores, token_type (UNKNOWN, CONTROL,
BYTE, NORMAL, USER_DEFINED), special ids and the add_* flags. Four added tokens follow the pieces, as
Phi-3's added_tokens do (the control ones as "special": true, one user-defined).

Files written to OUT_DIR (each ~60 KB):
  spm-llama.gguf           add_space_prefix true, add_bos_token true (llama-2)
  spm-llama-noprefix.gguf  the same with add_space_prefix false
  spm-phi3.gguf            general.name "Phi-3 test vocab" (llama.cpp then gives the special tokens
                           rstrip, </s> too, but not <unk>, <s>, <|endoftext|>), add_bos_token false,
                           eos <|endoftext|>, as Phi-3-mini's GGUFs say

Needs the PyPI packages sentencepiece and gguf. Only to regenerate: the tests read the committed files.
The GGUFs are the fixture; retraining with another sentencepiece version may give other pieces, after
which tools/spm_golden.py must be rerun.
"""
import os
import sys
import tempfile

import gguf
import sentencepiece as spm

N_PIECES = 3000
WIKI_BYTES = 400_000

# Text the model should see besides wikitext: code, multilingual prose, symbols. Characters that are
# rare here (and absent from the edge cases' neighbours) fall below character_coverage and stay out of
# the vocabulary, so that byte fallback is exercised.
EXTRA_TEXT = """
Grüße aus München! Ça va très bien, merci. Één, twee, drie. Ærø og Åbenrå. Łódź, Kraków, Gdańsk.
Привет, как дела? Это тест токенизатора. Съешь же ещё этих мягких французских булок.
Γειά σου κόσμε. Καλημέρα. Ελληνικά γράμματα: α β γ δ ε ζ η θ.
日本語のテキストです。東京は日本の首都です。私は学生です。こんにちは世界。
中文测试文本。北京是中国的首都。我们在学习自然语言处理。你好，世界。
한국어 텍스트입니다. 안녕하세요 세계. 서울은 한국의 수도입니다.
العربية نص تجريبي. مرحبا بالعالم.
Emoji: 😀 😃 😄 🙂 🚀 🔥 👍 ❤️ ✨ 🎉
Math: ∑ ∫ √ ∞ ≤ ≥ ≠ ± × ÷ → ← ↔ ∀ ∃ ∈ ∉ ⊂ ⊃ ∧ ∨ ¬
""" * 20


def training_text(shared_dir):
    with open(os.path.join(shared_dir, "data", "wikitext-2-test.txt"), "rb") as f:
        wiki = f.read(WIKI_BYTES).decode("utf-8", errors="ignore")
    import gzip
    import json
    code = []
    with gzip.open(os.path.join(shared_dir, "data", "HumanEval.jsonl.gz"), "rt") as f:
        for line in f:
            problem = json.loads(line)
            code.append(problem["prompt"] + problem["canonical_solution"])
    return wiki + "\n" + "\n".join(code) + EXTRA_TEXT


def train(shared_dir, work_dir):
    text_path = os.path.join(work_dir, "train.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(training_text(shared_dir))
    prefix = os.path.join(work_dir, "spm")
    # llama-2's trainer_spec, scaled down (its normalizer is identity, whitespace is kept as is).
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, model_type="bpe", vocab_size=N_PIECES,
        byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", add_dummy_prefix=True,
        character_coverage=0.9995, max_sentencepiece_length=16, split_by_unicode_script=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, max_sentence_length=1 << 20,
        input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    processor = spm.SentencePieceProcessor()
    processor.LoadFromFile(prefix + ".model")
    return processor


def vocab_of(processor):
    """tokens, scores, types as _create_vocab_sentencepiece makes them, plus Phi-3-like added tokens."""
    T = gguf.TokenType
    tokens, scores, types = [], [], []
    for token_id in range(processor.vocab_size()):
        kind = T.NORMAL
        if processor.IsUnknown(token_id):
            kind = T.UNKNOWN
        elif processor.IsControl(token_id):
            kind = T.CONTROL
        elif processor.IsUnused(token_id):
            kind = T.UNUSED
        elif processor.IsByte(token_id):
            kind = T.BYTE
        tokens.append(processor.IdToPiece(token_id))
        scores.append(processor.GetScore(token_id))
        types.append(kind)
    # Added tokens get score -1000 (convert_hf_to_gguf's rule); "special" ones are CONTROL.
    for text, kind in [("<|endoftext|>", T.CONTROL), ("<|user|>", T.CONTROL), ("<|end|>", T.CONTROL),
                       ("<|tool|>", T.USER_DEFINED)]:
        tokens.append(text)
        scores.append(-1000.0)
        types.append(kind)
    return tokens, scores, types


def write_gguf(path, vocab, name, add_space_prefix, add_bos, eos_id):
    tokens, scores, types = vocab
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_name(name)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(eos_id)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(add_space_prefix)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    shared_dir, out_dir = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as work_dir:
        processor = train(shared_dir, work_dir)
    vocab = vocab_of(processor)
    os.makedirs(out_dir, exist_ok=True)
    eot = vocab[0].index("<|endoftext|>")
    write_gguf(os.path.join(out_dir, "spm-llama.gguf"), vocab, "SPM test vocab", True, True, 2)
    write_gguf(os.path.join(out_dir, "spm-llama-noprefix.gguf"), vocab, "SPM test vocab", False, True, 2)
    write_gguf(os.path.join(out_dir, "spm-phi3.gguf"), vocab, "Phi-3 test vocab", True, False, eot)
    print(f"wrote {len(vocab[0])} tokens to {out_dir}/spm-{{llama,llama-noprefix,phi3}}.gguf")


if __name__ == "__main__":
    main()
