# Writes a copy of a GGUF's metadata (no tensors) with tokenizer.ggml.pre replaced: a vocab-only file
# that makes llama.cpp apply another pre-tokenizer to the same vocabulary.
# Usage: python3 tools/vocab_with_pre.py SRC.gguf PRE OUT.gguf
import sys, gguf, numpy as np
src, pre, out = sys.argv[1], sys.argv[2], sys.argv[3]
r = gguf.GGUFReader(src)
w = gguf.GGUFWriter(out, arch=r.fields['general.architecture'].contents())
for name, f in r.fields.items():
    if name.startswith('GGUF.') or name == 'general.architecture': continue
    if not (name.startswith('tokenizer.') or name.startswith('general.') ): 
        # keep hparams too so llama.cpp can load vocab-only
        pass
    v = f.contents()
    if name == 'tokenizer.ggml.pre': v = pre
    t = f.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        sub = f.types[1]
        w.add_key_value(name, v, t, sub_type=sub)
    else:
        w.add_key_value(name, v, t)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
