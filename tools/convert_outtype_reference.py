#!/usr/bin/env python3
"""Checks a `shootout convert --outtype T` file against what convert_hf_to_gguf.py would write for T,
using llama.cpp's own BF16 conversion of the same checkpoint as the source of values: tensors the
converter keeps in F32 stay as they are; the others (BF16 there) are widened to F32 and stored as T by
gguf-py's quantizers (gguf.quants.quantize, with its F16 fallback for rows that Q8_0 blocks do not
divide), as the converter does. Metadata must equal the BF16 file's except general.file_type.
Usage: convert_outtype_reference.py <llama.cpp bf16 gguf> <our gguf> <f32|f16|q8_0>; exit 1 on a difference."""
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFReader
from gguf import quants

ref_path, ours_path, outtype = sys.argv[1:4]
target = {"f32": Q.F32, "f16": Q.F16, "q8_0": Q.Q8_0}[outtype]
file_type = {"f32": 0, "f16": 1, "q8_0": 7}[outtype]
ref, ours = GGUFReader(ref_path), GGUFReader(ours_path)
bad = 0
ref_keys = [k for k in ref.fields if not k.startswith("GGUF.")]
our_keys = [k for k in ours.fields if not k.startswith("GGUF.")]
if ref_keys != our_keys:
    print("metadata keys differ"); bad += 1
for k in ref_keys:
    a, b = ref.fields[k], ours.fields[k]
    if k == "general.file_type":
        if int(b.contents()) != file_type: print("general.file_type", b.contents()); bad += 1
        continue
    if [t for t in a.types] != [t for t in b.types] or a.contents() != b.contents():
        print("metadata differs:", k); bad += 1
ours_by_name = {t.name: t for t in ours.tensors}
for t in ref.tensors:
    o = ours_by_name.get(t.name)
    if o is None: print("missing", t.name); bad += 1; continue
    if t.tensor_type == Q.F32:
        want_type, want = Q.F32, np.asarray(t.data).tobytes()
    else:
        values = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        want_type = target
        try:
            want = quants.quantize(values, target)
        except quants.QuantError:
            want_type, want = Q.F16, quants.quantize(values, Q.F16)
        want = np.asarray(want).tobytes()
    if o.tensor_type != want_type or list(o.shape) != list(t.shape) or np.asarray(o.data).tobytes() != want:
        print("tensor differs:", t.name, o.tensor_type.name, want_type.name); bad += 1
print(f"{len(ref.tensors)} tensors checked, {bad} differences")
sys.exit(1 if bad else 0)
