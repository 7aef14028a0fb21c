#!/usr/bin/env python3
"""Compares the SASS of two CUDA objects kernel by kernel: whether a refactor left the generated
code alone (then it needs no device time), or which kernels it changed (then it must be timed).

  tools/sass_compare.py BEFORE.o AFTER.o     (or two saved `cuobjdump -sass` listings)

cuobjdump and nvdisasm are not in Debian's CUDA packages here; NVIDIA's wheels have them:
  python3 -m venv /tmp/cuobj && /tmp/cuobj/bin/pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm
The script finds them there, or on PATH / CUOBJDUMP. Addresses and encodings are left out of the
comparison; instruction text and order are compared.
"""
import glob
import os
import re
import shutil
import subprocess
import sys


def tool(name):
    found = os.environ.get(name.upper()) or shutil.which(name)
    if found:
        return found
    hits = glob.glob(f"/tmp/cuobj/lib/python3*/site-packages/nvidia/*/bin/{name}")
    if hits:
        return hits[0]
    sys.exit(f"sass_compare: {name} not found (see the header of {sys.argv[0]})")


def listing(path):
    if not path.endswith(".o"):
        return open(path).read()
    cuobjdump = tool("cuobjdump")
    env = dict(os.environ, PATH=os.path.dirname(tool("nvdisasm")) + os.pathsep + os.environ.get("PATH", ""))
    out = subprocess.run([cuobjdump, "-sass", path], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"sass_compare: cuobjdump failed on {path}: {out.stderr.strip()}")
    return out.stdout


def kernels(text):
    out, name, body = {}, None, []
    for line in text.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            if name:
                out[name] = body
            name, body = m.group(1), []
            continue
        if name is None:
            continue
        ins = re.sub(r"/\*[0-9a-f]{4,}\*/", "", line)
        ins = re.sub(r"/\* 0x[0-9a-f]+ \*/", "", ins).strip()
        if ins:
            body.append(ins)
    if name:
        out[name] = body
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = kernels(listing(sys.argv[1])), kernels(listing(sys.argv[2]))
    same = [k for k in a if k in b and a[k] == b[k]]
    changed = [k for k in a if k in b and a[k] != b[k]]
    print(f"kernels: {len(a)} before, {len(b)} after, {len(same)} identical, {len(changed)} changed, "
          f"{len(set(a) - set(b))} gone, {len(set(b) - set(a))} new")
    for k in changed:
        print(f"  changed: {k[:150]} ({len(a[k])} -> {len(b[k])} instructions)")
    return 0 if not changed and set(a) == set(b) else 1


if __name__ == "__main__":
    sys.exit(main())
