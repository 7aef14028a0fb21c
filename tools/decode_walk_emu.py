# A numpy emulation of decode_walk_mma's per-lane operand indexing (decode_walk_mma.cuh: dims
# permuted in S, output dims permuted in P V, two keys' halves joined by a byte permute, q and p as
# hi + lo F16 pairs) with PTX's documented mma.m16n8k16 layouts, for one warp walking every key of
# one KV head, against F32 attention on the F16 cache. It checks the index arithmetic for any head
# size without a GPU (not PTX itself): head_dim 64 and 128 ran on the H100 in session 9, 256 is new.
#   python3 tools/decode_walk_emu.py [HD] [G] [n_keys]
# Session 9: max |emu - ref| 1.0e-6 (64, 4, 45), 8.1e-7 (128, 4, 37), 1.2e-6 (256, 8, 45), 1.9e-6
# (128, 16, 33), 9.1e-7 (256, 2, 20); an output dim or a k-step's operand order changed: 2.4.
import sys
import numpy as np

import mma_emu

HD = int(sys.argv[1]) if len(sys.argv) > 1 else 256
G = int(sys.argv[2]) if len(sys.argv) > 2 else 8
n_keys = int(sys.argv[3]) if len(sys.argv) > 3 else 45
rng = np.random.default_rng(1)
q = rng.standard_normal((G, HD)).astype(np.float32)
K = (3 * rng.standard_normal((n_keys, HD))).astype(np.float16).astype(np.float32)
V = rng.standard_normal((n_keys, HD)).astype(np.float16).astype(np.float32)
scale = 1 / np.sqrt(HD)
f16 = lambda x: np.float32(np.float16(x))
tall = G > 8


def mma(c, a, b):
    mma_emu.mma(c, a, b, np.float64)


def split(x):  # hi + lo F16 of a pair
    hi = f16(np.asarray(x, np.float32)); return hi, f16(np.asarray(x, np.float32) - hi)


zero2 = np.zeros(2, np.float32)
qa, ql = [], []  # [lane][kk][reg]
for lane in range(32):
    r, c = lane // 4, lane % 4
    ha, la = [], []
    for kk in range(HD // 16):
        d = 32 * (kk // 2) + 8 * c + 4 * (kk % 2)
        regs_h, regs_l = [zero2] * 4, [zero2] * 4
        if r < G:
            regs_h[0], regs_l[0] = split(q[r, d:d+2]); regs_h[2], regs_l[2] = split(q[r, d+2:d+4])
        if tall and r + 8 < G:
            regs_h[1], regs_l[1] = split(q[r+8, d:d+2]); regs_h[3], regs_l[3] = split(q[r+8, d+2:d+4])
        ha.append(regs_h); la.append(regs_l)
    qa.append(ha); ql.append(la)

o = [np.zeros((HD // 8, 4)) for _ in range(32)]
m_lo = [-np.inf] * 32; m_hi = [-np.inf] * 32; l_lo = [0.0] * 32; l_hi = [0.0] * 32
row = lambda key: (K[key], V[key]) if key < n_keys else (np.zeros(HD, np.float32), np.zeros(HD, np.float32))
for p0 in range(0, n_keys, 16):
    s = [[np.zeros(4) for _ in range(2)] for _ in range(32)]  # [lane][j]
    for j in range(2):
        for kk in range(HD // 16):
            m, h = kk // 2, kk % 2
            b = []
            for lane in range(32):
                r, c = lane // 4, lane % 4
                piece = row(p0 + 8*j + r)[0][32*m + 8*c: 32*m + 8*c + 8]
                b.append([piece[4*h:4*h+2], piece[4*h+2:4*h+4]])
            cj = [s[t][j] for t in range(32)]
            mma(cj, [qa[t][kk] for t in range(32)], b)
            mma(cj, [ql[t][kk] for t in range(32)], b)
    pa, pl, corr = [], [], []
    for lane in range(32):
        c = lane % 4
        for j in range(2):
            for e in range(2):
                inside = p0 + 8*j + 2*c + e < n_keys
                s[lane][j][e] = s[lane][j][e] * scale if inside else -np.inf
                s[lane][j][2+e] = s[lane][j][2+e] * scale if inside else -np.inf
    for lane in range(32):
        quad = range(lane - lane % 4, lane - lane % 4 + 4)
        mx_lo = max(max(s[t][j][e] for j in range(2) for e in range(2)) for t in quad)
        mx_hi = max(max(s[t][j][2+e] for j in range(2) for e in range(2)) for t in quad)
        mn_lo, mn_hi = max(m_lo[lane], mx_lo), max(m_hi[lane], mx_hi)
        c_lo = np.exp(m_lo[lane] - mn_lo); c_hi = np.exp(m_hi[lane] - mn_hi) if tall else 1.0
        m_lo[lane], m_hi[lane] = mn_lo, mn_hi
        regs_h, regs_l, sl, sh = [zero2] * 4, [zero2] * 4, 0.0, 0.0
        for j in range(2):
            p = np.exp(np.array([s[lane][j][0], s[lane][j][1]]) - mn_lo); sl += p.sum()
            regs_h[2*j], regs_l[2*j] = split(p)
            if tall:
                p = np.exp(np.array([s[lane][j][2], s[lane][j][3]]) - mn_hi); sh += p.sum()
                regs_h[2*j+1], regs_l[2*j+1] = split(p)
        l_lo[lane] = l_lo[lane] * c_lo + sl; l_hi[lane] = l_hi[lane] * c_hi + sh
        pa.append(regs_h); pl.append(regs_l); corr.append((c_lo, c_hi))
    for u in range(HD // 64):
        for i in range(8):
            b = []
            for lane in range(32):
                r, c = lane // 4, lane % 4
                keys = [p0 + 2*c, p0 + 2*c + 1, p0 + 2*c + 8, p0 + 2*c + 9]
                vals = [row(k)[1][64*u + 8*r + i] for k in keys]  # half i of each key's piece
                b.append([np.array(vals[0:2]), np.array(vals[2:4])])
            ct = []
            for lane in range(32):
                o[lane][8*u + i][0:2] *= corr[lane][0]; o[lane][8*u + i][2:4] *= corr[lane][1]
                ct.append(o[lane][8*u + i])
            mma(ct, pa, b)
            mma(ct, pl, b)

out = np.full((G, HD), np.nan)
for lane in range(32):
    r, c = lane // 4, lane % 4
    L_lo = sum(l_lo[t] for t in range(lane - c, lane - c + 4)); L_hi = sum(l_hi[t] for t in range(lane - c, lane - c + 4))
    for t in range(HD // 8):
        d = 64 * (t // 8) + 16 * c + t % 8
        if r < G: out[r, d], out[r, d + 8] = o[lane][t][0] / L_lo, o[lane][t][1] / L_lo
        if tall and r + 8 < G: out[r+8, d], out[r+8, d + 8] = o[lane][t][2] / L_hi, o[lane][t][3] / L_hi

S = (q @ K.T) * scale
P = np.exp(S - S.max(axis=1, keepdims=True)); ref = (P @ V) / P.sum(axis=1, keepdims=True)
print(f"HD {HD}, G {G}, {n_keys} keys: max |emu - ref| {np.nanmax(np.abs(out - ref)):.3g}, unwritten {int(np.isnan(out).sum())}")
