#!/usr/bin/env bash
# The A side of an A/B that times commits already on main (tools/gpu-ab.sh --a): the current HEAD
# with the given commits reverted, archived as .device-carry/a.tar.gz (git-ignored; carry it). The
# reverts run in a temporary worktree, newest first; then every .cu/.cpp file they touch is compiled
# (nvcc -ptx / g++ -fsyntax-only), since a revert that no longer builds wastes a device call.
#   tools/make-ab-base.sh COMMIT...   e.g. tools/make-ab-base.sh 2bc930b 7004309 f9d6eae
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: tools/make-ab-base.sh COMMIT..." >&2; exit 2; }
root=$PWD
wt=$(mktemp -d /tmp/ab-base.XXXXXX)
trap 'git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || true; rm -rf "$wt"' EXIT
git worktree add -q --detach "$wt" HEAD
# Newest first, whatever order they were given in.
mapfile -t commits < <(git rev-list --no-walk=sorted "$@")
git -C "$wt" revert --no-edit "${commits[@]}" >/dev/null
# The sources the reverts touch, and those including (through any chain of headers) a header they touch.
mapfile -t files < <(cd "$wt" && git diff --name-only HEAD~${#commits[@]} HEAD -- src tests bench | python3 -c '
import os, re, sys
touched = [l.strip() for l in sys.stdin if l.strip()]
inc = re.compile(r"#include \"([^\"]+)\"")
all_files = [os.path.join(d, f) for top in ("src", "tests", "bench") for d, _, fs in os.walk(top) for f in fs
             if f.endswith((".cu", ".cpp", ".cuh", ".h"))]
includes = {f: set(inc.findall(open(f, errors="ignore").read())) for f in all_files}
headers = {t for t in touched if t.endswith((".cuh", ".h"))}
names = {h[len("src/"):] if h.startswith("src/") else h for h in headers}
grew = True
while grew:
    grew = False
    for f, incs in includes.items():
        key = f[len("src/"):] if f.startswith("src/") else f
        if f.endswith((".cuh", ".h")) and key not in names and incs & names:
            names.add(key); grew = True
out = {t for t in touched if t.endswith((".cu", ".cpp"))}
out |= {f for f, incs in includes.items() if f.endswith((".cu", ".cpp")) and incs & names}
print("\n".join(sorted(out)))
')
for f in "${files[@]}"; do
  [ -f "$wt/$f" ] || continue
  case $f in
    *.cu) /usr/local/cuda/bin/nvcc -DSHOOTOUT_HAVE_CUDA=1 -I"$wt/src" -O1 -arch=sm_90 -std=c++20 -x cu -ptx "$wt/$f" -o /dev/null ;;
    *.cpp) g++ -std=c++20 -fsyntax-only -DSHOOTOUT_HAVE_CUDA=1 -I"$wt/src" -I/usr/local/cuda/include \
             $( [[ $f == tests/* ]] && echo "-DSHOOTOUT_SOURCE_DIR=\"\" -DSHOOTOUT_SHARED_DIR=\"\" -DSHOOTOUT_BINARY=\"\"" ) "$wt/$f" ;;
  esac || { echo "make-ab-base: $f does not compile with the reverts" >&2; exit 1; }
done
mkdir -p .device-carry
git -C "$wt" archive HEAD | gzip > .device-carry/a.tar.gz
echo "make-ab-base: .device-carry/a.tar.gz = HEAD ($(git rev-parse --short HEAD)) without ${commits[*]}; compiled: ${#files[@]} files"
