"""The golden-logits file the model tests read (tests/model/test_model_golden.cpp's read_golden), written by
tools/reference_forward.py (numpy references) and tools/make_tiny_hf_models.py (transformers). Format in
reference_forward.py's docstring: "SHGOLD01", n_tokens, n_vocab, top_k, the tokens, then per position the
float64 logsumexp of the row and its top_k ids and float32 logits, descending.
"""
import struct

import numpy as np


def write_golden(out, tokens, logits, top_k):
    n_tokens, n_vocab = logits.shape
    top_k = min(top_k, n_vocab)
    with open(out, "wb") as f:
        f.write(b"SHGOLD01")
        f.write(struct.pack("<3i", n_tokens, n_vocab, top_k))
        f.write(np.asarray(tokens, dtype="<i4").tobytes())
        for row in logits:
            m = row.max()
            lse = m + np.log(np.sum(np.exp(row - m)))
            ids = np.argsort(-row, kind="stable")[:top_k]
            f.write(struct.pack("<d", lse))
            f.write(ids.astype("<i4").tobytes())
            f.write(row[ids].astype("<f4").tobytes())
