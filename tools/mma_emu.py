# PTX's mma.sync m16n8k16 (row.col) and ldmatrix .x4 .trans as numpy, lane by lane, for the
# fragment-indexing emulations of the tensor-core kernels (flash_attention_emu.py, decode_walk_emu.py).
import numpy as np


def mma(c, a, b, dtype=np.float32):
    """c[lane][0..3] += A B: a[lane] = 4 registers of 2 halves (A rows lane/4 and +8, columns
    2 (lane%4) and +8), b[lane] = 2 registers (B rows 2 (lane%4) and +8, column lane/4); C's layout."""
    A = np.zeros((16, 16), dtype); B = np.zeros((16, 8), dtype)
    for t in range(32):
        g, tg = t // 4, t % 4
        A[g, 2*tg:2*tg+2] = a[t][0]; A[g+8, 2*tg:2*tg+2] = a[t][1]
        A[g, 2*tg+8:2*tg+10] = a[t][2]; A[g+8, 2*tg+8:2*tg+10] = a[t][3]
        B[2*tg:2*tg+2, g] = b[t][0]; B[2*tg+8:2*tg+10, g] = b[t][1]
    C = A @ B
    for t in range(32):
        g, tg = t // 4, t % 4
        c[t][0] += C[g, 2*tg]; c[t][1] += C[g, 2*tg+1]; c[t][2] += C[g+8, 2*tg]; c[t][3] += C[g+8, 2*tg+1]


def ldmatrix_x4_trans(rows_addr):
    """rows_addr[t] = (array, row, col): the row of 8 halves lane t points at; four 8x8 matrices,
    each returned transposed in mma's B layout (lane t: rows 2 (t%4), +1 of column t/4)."""
    out = [[None] * 4 for _ in range(32)]
    for i in range(4):
        M = np.array([rows_addr[8*i + j][0][rows_addr[8*i+j][1], rows_addr[8*i+j][2]:rows_addr[8*i+j][2]+8]
                      for j in range(8)])
        for t in range(32):
            out[t][i] = np.array([M[2*(t % 4), t // 4], M[2*(t % 4)+1, t // 4]], np.float32)
    return out
