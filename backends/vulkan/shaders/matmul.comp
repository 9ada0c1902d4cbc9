// matmul.comp — out[b, M, N] = x[b', M, K] @ y[b'', K, N], batch dims broadcast
// (x_batch_off / y_batch_off are generated). The header names the bindings of x and y
// (XB, YB), their element offsets within a batch (X_AT(m, k), Y_AT(k, n): stored plainly
// or transposed in the last two axes) and STORE(offset, value), which applies a fused
// epilogue (bias, activation, residual) when fuse-matmul made one. Tiled for a discrete GPU:
//   - a TX x TX workgroup computes a BM x BM output tile (BM = 4 * TX), 4 x 4 outputs
//     per invocation held in registers;
//   - K is walked in steps of BK; each step stages a BM x BK tile of x and a BK x BM
//     tile of y in shared memory, loaded with consecutive invocations reading
//     consecutive addresses (coalesced);
//   - an invocation's rows and columns are interleaved (ty + i * TX), so the 16 threads
//     of a row read 16 consecutive shared-memory words: no bank conflicts.
// Out-of-range rows and columns of edge tiles load zeros and store nothing, so any
// M, K, N (1, primes) is correct. Batches past maxComputeWorkGroupCount loop in z.
#define TM 4u
#define BM (TX * TM)
#define BK 16u
#ifdef MM_DIRECT
// CPU implementations (lavapipe) only: there a barrier() costs far more than on a GPU and
// the CPU's caches already do what shared memory does, so each invocation reads its 4
// rows of x and 4 columns of y straight from the buffers. Same tiles, same results.
void main() {
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint n0 = gl_WorkGroupID.x * BM, m0 = gl_WorkGroupID.y * BM;
    for (uint bz = gl_WorkGroupID.z; bz < BATCH; bz += gl_NumWorkGroups.z) {
        uint xo = x_batch_off(bz) * MM * KK, yo = y_batch_off(bz) * KK * NN, oo = bz * MM * NN;
        MT acc[TM][TM];
        uint gm[TM], gn[TM];
        for (uint i = 0u; i < TM; i++) {
            gm[i] = min(m0 + ty + i * TX, MM - 1u);
            gn[i] = min(n0 + tx + i * TX, NN - 1u);
            for (uint j = 0u; j < TM; j++) acc[i][j] = MT(0);
        }
        for (uint k = 0u; k < KK; k++) {
            MT a[TM], b[TM];
            for (uint i = 0u; i < TM; i++) a[i] = XB.d[xo + X_AT(gm[i], k)];
            for (uint j = 0u; j < TM; j++) b[j] = YB.d[yo + Y_AT(k, gn[j])];
            for (uint i = 0u; i < TM; i++)
                for (uint j = 0u; j < TM; j++) acc[i][j] += a[i] * b[j];
        }
        for (uint i = 0u; i < TM; i++)
            for (uint j = 0u; j < TM; j++) {
                uint r = m0 + ty + i * TX, c = n0 + tx + j * TX;
                if (r < MM && c < NN) STORE(oo + r * NN + c, acc[i][j]);
            }
    }
}
#else
shared MT As[BK][BM];
shared MT Bs[BK][BM];

void main() {
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * TX + tx;
    uint n0 = gl_WorkGroupID.x * BM, m0 = gl_WorkGroupID.y * BM;
    for (uint bz = gl_WorkGroupID.z; bz < BATCH; bz += gl_NumWorkGroups.z) {
        uint xo = x_batch_off(bz) * MM * KK, yo = y_batch_off(bz) * KK * NN, oo = bz * MM * NN;
        MT acc[TM][TM];
        for (uint i = 0u; i < TM; i++)
            for (uint j = 0u; j < TM; j++) acc[i][j] = MT(0);
        for (uint k0 = 0u; k0 < KK; k0 += BK) {
            for (uint e = tid; e < BM * BK; e += TX * TX) {
                uint mm = e / BK, kk = e % BK;
                uint gm = m0 + mm, gk = k0 + kk;
                As[kk][mm] = (gm < MM && gk < KK) ? XB.d[xo + X_AT(gm, gk)] : MT(0);
                uint kb = e / BM, nn = e % BM;
                uint gk2 = k0 + kb, gn = n0 + nn;
                Bs[kb][nn] = (gk2 < KK && gn < NN) ? YB.d[yo + Y_AT(gk2, gn)] : MT(0);
            }
            barrier();
            for (uint kk = 0u; kk < BK; kk++) {
                MT a[TM], b[TM];
                for (uint i = 0u; i < TM; i++) a[i] = As[kk][ty + i * TX];
                for (uint j = 0u; j < TM; j++) b[j] = Bs[kk][tx + j * TX];
                for (uint i = 0u; i < TM; i++)
                    for (uint j = 0u; j < TM; j++) acc[i][j] += a[i] * b[j];
            }
            barrier();
        }
        for (uint i = 0u; i < TM; i++)
            for (uint j = 0u; j < TM; j++) {
                uint gm = m0 + ty + i * TX, gn = n0 + tx + j * TX;
                if (gm < MM && gn < NN) STORE(oo + gm * NN + gn, acc[i][j]);
            }
    }
}
#endif
