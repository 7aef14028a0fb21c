#!/usr/bin/env python3
"""Small golden numbers from a llama-imatrix GGUF output, for tests/quantize/test_imatrix_collect.

Usage: tools/imatrix_golden.py IMATRIX.gguf > tests/data/quantize/<name>.txt

The matrix itself is not committed (it is llama.cpp's output and ~150 KB); per entry one line:
  name count n_values sum(in_sum2) in_sum2[0] in_sum2[1] in_sum2[2] in_sum2[3] max(in_sum2)
and for a routed-expert entry (one count per expert) one such line per expert e, named name#e, with
that expert's slice of n_values sums.
Made with:
  llama-imatrix -m ../shared/models/qwen3-34m-code/model-bf16.gguf -f ../shared/data/wikitext-2-test.txt \
      -c 512 --chunks 2 -o li2.gguf
  (and the same with ../shared/models/qwen3moe-11m-code/model-bf16.gguf for the MoE golden)
"""
import sys

import numpy as np
from gguf import GGUFReader


def main() -> None:
    reader = GGUFReader(sys.argv[1])
    fields = reader.fields
    chunk_count = int(fields["imatrix.chunk_count"].parts[-1][0])
    chunk_size = int(fields["imatrix.chunk_size"].parts[-1][0])
    tensors = {t.name: np.asarray(t.data, dtype=np.float32).ravel() for t in reader.tensors}
    print(f"# llama-imatrix {sys.argv[1].split('/')[-1]}: chunk_count {chunk_count} chunk_size {chunk_size}")
    print(f"chunks {chunk_count} {chunk_size}")
    for name in sorted(n[: -len(".in_sum2")] for n in tensors if n.endswith(".in_sum2")):
        sums = tensors[name + ".in_sum2"]
        counts = tensors[name + ".counts"]
        if counts.size == 1:
            slices = [(name, sums)]
        else:  # routed experts: one line per expert slice, named <entry>#<expert>
            slices = [(f"{name}#{e}", part) for e, part in enumerate(sums.reshape(counts.size, -1))]
        for (label, part), count in zip(slices, counts):
            head = " ".join(f"{v:.9g}" for v in part[:4])
            print(f"{label} {int(count)} {part.size} {float(part.astype(np.float64).sum()):.9g} {head} "
                  f"{float(part.max()):.9g}")


if __name__ == "__main__":
    main()
