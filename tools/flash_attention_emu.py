# A numpy emulation of attention_flash_kernel's per-lane fragment indexing (attention_flash.cu) with
# PTX's documented mma.m16n8k16 / ldmatrix(.trans) layouts, against F32 attention on the F16 cache:
# checks the kernel's index arithmetic without a GPU (it cannot check PTX itself). Slow (minutes).
# Session 8: max |emu - ref| 3.2e-4 (HD 128, 8/2 heads, 70 tokens at pos0 100), 4.0e-4 (HD 64, 97 at 0).
import numpy as np
rng = np.random.default_rng(0)
HD, n_head, n_head_kv, n_tokens, pos0 = 128, 8, 2, 70, 100
kWarps, kRows, kKeys = 4, 64, 64
n_ctx = pos0 + n_tokens
q = rng.standard_normal((n_tokens, n_head, HD)).astype(np.float32)
K = rng.standard_normal((n_ctx, n_head_kv, HD)).astype(np.float16)
V = rng.standard_normal((n_ctx, n_head_kv, HD)).astype(np.float16)
scale = 1/np.sqrt(HD)
f16 = lambda x: np.float32(np.float16(x))

from mma_emu import mma, ldmatrix_x4_trans  # PTX semantics

out = np.full((n_tokens, n_head, HD), np.nan, np.float32)
for bx in range((n_tokens + kRows - 1)//kRows):
  for head in range(n_head):
    kvh = head // (n_head // n_head_kv)
    t0 = bx*kRows
    last = min(t0 + kRows, n_tokens) - 1; n_kv = pos0 + last + 1
    for warp in range(kWarps):
        st = {}
        for lane in range(32):
            r, c = lane//4, (lane%4)*2
            row_lo = t0 + warp*16 + r; row_hi = row_lo + 8
            t_lo = min(row_lo, n_tokens-1); t_hi = min(row_hi, n_tokens-1)
            qa = []
            for kk in range(HD//16):
                ql, qh = q[t_lo, head], q[t_hi, head]
                qa.append([f16(ql[16*kk+c:16*kk+c+2]), f16(qh[16*kk+c:16*kk+c+2]), f16(ql[16*kk+c+8:16*kk+c+10]), f16(qh[16*kk+c+8:16*kk+c+10])])
            st[lane] = dict(r=r,c=c,row_lo=row_lo,row_hi=row_hi,p_lo=pos0+t_lo,p_hi=pos0+t_hi,qa=qa,
                            o=np.zeros((HD//8,4),np.float32), m_lo=-np.inf, m_hi=-np.inf, l_lo=0.0, l_hi=0.0)
        for kv0 in range(0, n_kv, kKeys):
            ks = np.zeros((kKeys, HD+8), np.float32); vs = np.zeros((kKeys, HD+8), np.float32)
            for row in range(kKeys):
                if kv0+row < n_kv: ks[row,:HD] = K[kv0+row, kvh]; vs[row,:HD] = V[kv0+row, kvh]
            s = [np.zeros((8,4),np.float32) for _ in range(32)]
            for kk in range(HD//16):
                for j in range(8):
                    a = [st[l]['qa'][kk] for l in range(32)]
                    b = [[ks[8*j+st[l]['r'], 16*kk+st[l]['c']:16*kk+st[l]['c']+2], ks[8*j+st[l]['r'], 16*kk+st[l]['c']+8:16*kk+st[l]['c']+10]] for l in range(32)]
                    cc = [s[l][j] for l in range(32)]
                    mma(cc, a, b)
            mx_lo = np.full(32, -np.inf); mx_hi = np.full(32, -np.inf)
            for l in range(32):
                S = st[l]
                for j in range(8):
                    for e in range(2):
                        key = kv0 + 8*j + S['c'] + e
                        s[l][j][e] = s[l][j][e]*scale if key <= S['p_lo'] else -np.inf
                        s[l][j][2+e] = s[l][j][2+e]*scale if key <= S['p_hi'] else -np.inf
                        mx_lo[l] = max(mx_lo[l], s[l][j][e]); mx_hi[l] = max(mx_hi[l], s[l][j][2+e])
            for off in (1,2):
                mx_lo = np.maximum(mx_lo, mx_lo[np.arange(32)^off]); mx_hi = np.maximum(mx_hi, mx_hi[np.arange(32)^off])
            pa = {}
            for l in range(32):
                S = st[l]
                mn_lo, mn_hi = max(S['m_lo'], mx_lo[l]), max(S['m_hi'], mx_hi[l])
                corr_lo, corr_hi = np.exp(S['m_lo']-mn_lo), np.exp(S['m_hi']-mn_hi)
                S['m_lo'], S['m_hi'] = mn_lo, mn_hi
                P = [[None]*4 for _ in range(kKeys//16)]; sl = sh = 0.0
                for j in range(8):
                    p0,p1 = np.exp(s[l][j][0]-mn_lo), np.exp(s[l][j][1]-mn_lo)
                    p2,p3 = np.exp(s[l][j][2]-mn_hi), np.exp(s[l][j][3]-mn_hi)
                    sl += p0+p1; sh += p2+p3
                    P[j//2][(j%2)*2] = f16(np.array([p0,p1])); P[j//2][(j%2)*2+1] = f16(np.array([p2,p3]))
                pa[l] = P
                S['l_lo'] = S['l_lo']*corr_lo + sl; S['l_hi'] = S['l_hi']*corr_hi + sh
                S['o'][:, :2] *= corr_lo; S['o'][:, 2:] *= corr_hi
            for kk in range(kKeys//16):
                for dp in range(HD//16):
                    addrs = [(vs, 16*kk + ((l//8)&1)*8 + l%8, 16*dp + ((l//8)>>1)*8) for l in range(32)]
                    b = ldmatrix_x4_trans(addrs)
                    a = [pa[l][kk] for l in range(32)]
                    c0 = [st[l]['o'][2*dp] for l in range(32)]; mma(c0, a, [[b[l][0], b[l][1]] for l in range(32)])
                    c1 = [st[l]['o'][2*dp+1] for l in range(32)]; mma(c1, a, [[b[l][2], b[l][3]] for l in range(32)])
        ll = np.array([st[l]['l_lo'] for l in range(32)]); lh = np.array([st[l]['l_hi'] for l in range(32)])
        for off in (1,2): ll = ll + ll[np.arange(32)^off]; lh = lh + lh[np.arange(32)^off]
        for l in range(32):
            S = st[l]
            for d in range(HD//8):
                if S['row_lo'] < n_tokens: out[S['row_lo'], head, 8*d+S['c']:8*d+S['c']+2] = S['o'][d][:2]/ll[l]
                if S['row_hi'] < n_tokens: out[S['row_hi'], head, 8*d+S['c']:8*d+S['c']+2] = S['o'][d][2:]/lh[l]

# reference: F32 attention on F16 K/V
ref = np.zeros_like(out)
for t in range(n_tokens):
    for h in range(n_head):
        kvh = h // (n_head//n_head_kv); p = pos0 + t
        sc = K[:p+1, kvh].astype(np.float32) @ q[t,h] * scale
        w = np.exp(sc - sc.max()); w /= w.sum()
        ref[t,h] = w @ V[:p+1, kvh].astype(np.float32)
print("nan:", np.isnan(out).sum(), "max |emu - ref|:", np.nanmax(np.abs(out-ref)))
