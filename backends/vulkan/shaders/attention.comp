// attention.comp — fused attention: one invocation per row, grid-stride, no Tq x Tk buffer.
//
//   ATT_FWD  o[i]  = Σ_j softmax_j(S[i, j]) v[j]     rows: queries (BATCH * TQ)
//   ATT_LSE  lse[i] = log Σ_j exp(S[i, j])             rows: queries
//   ATT_DQ   dq[i] = SCALE Σ_j dS[i, j] k[j]            rows: queries
//   ATT_DK   dk[j] = SCALE Σ_i dS[i, j] q[i]            rows: keys (BATCH * TK)
//   ATT_DV   dv[j] = Σ_i P[i, j] do[i]                  rows: keys
//
// S[i, j] = SCALE q[i].k[j] + bias[i, j], P = exp(S - lse), dS = P (do[i].v[j] - do[i].o[i]).
// The generated header defines TQ, TK, DH (= D), DV, BATCH, SCALE, the buffer accessors
// Q K V O DO LSE BIAS, bias_row(b, i) (the bias offset of score [b, i, 0]) and BIAS_SK (its
// stride along keys), CAUSAL and HAS_BIAS when they apply. The forward is the online
// softmax: the row walks its keys in chunks of CH, keeps a running max m and sum l, and
// rescales its output row (the accumulator, in the output buffer: this invocation owns
// it) by exp(m_old - m_new) before adding the chunk's P v. A max of -inf (no key seen
// yet) uses 0, as the reference's softmax does, so a row that sees no key gives NaN.
// Causal: query i sees key j iff j <= i + TK - TQ; hidden keys are never computed.
#define CH 32u

float score(uint b, uint i, uint j) {
    uint qo = (b * TQ + i) * DH, ko = (b * TK + j) * DH;
    float s = 0.0;
    for (uint d = 0u; d < DH; d++) s += Q(qo + d) * K(ko + d);
    s *= SCALE;
#ifdef HAS_BIAS
    s += BIAS(bias_row(b, i) + j * BIAS_SK);
#endif
    return s;
}

// Keys query i sees: [0, kend(i)).
uint kend(uint i) {
#ifdef CAUSAL
    int e = int(i) + int(TK) - int(TQ) + 1;
    return uint(clamp(e, 0, int(TK)));
#else
    return TK;
#endif
}

void main() {
    uint stride = gl_NumWorkGroups.x * WG;
    float c[CH];
#if defined(ATT_FWD) || defined(ATT_LSE) || defined(ATT_DQ)
    for (uint row = gl_GlobalInvocationID.x; row < BATCH * TQ; row += stride) {
        uint b = row / TQ, i = row % TQ, ke = kend(i);
#else
    for (uint row = gl_GlobalInvocationID.x; row < BATCH * TK; row += stride) {
        uint b = row / TK, j = row % TK;
#endif
#if defined(ATT_FWD) || defined(ATT_LSE)
#ifdef ATT_FWD
        uint oo = row * DV;
        for (uint e = 0u; e < DV; e++) OUT(oo + e) = 0.0;
#endif
        float m = -INF_F, l = 0.0;
        for (uint j0 = 0u; j0 < ke; j0 += CH) {
            uint n = min(CH, ke - j0);
            float bm = -INF_F;
            for (uint t = 0u; t < n; t++) {
                c[t] = score(b, i, j0 + t);
                bm = fmax_(bm, c[t]);
            }
            float mnew = fmax_(m, bm);
            float muse = mnew == -INF_F ? 0.0 : mnew;
            float alpha = m == -INF_F ? 0.0 : exp_(m - mnew);
            float ps = 0.0;
            for (uint t = 0u; t < n; t++) {
                c[t] = exp_(c[t] - muse);
                ps += c[t];
            }
            l = l * alpha + ps;
            m = mnew;
#ifdef ATT_FWD
            uint vo = (b * TK + j0) * DV;
            for (uint e = 0u; e < DV; e++) {
                float a = OUT(oo + e) * alpha;
                for (uint t = 0u; t < n; t++) a += c[t] * V(vo + t * DV + e);
                OUT(oo + e) = a;
            }
#endif
        }
#ifdef ATT_FWD
        float den = TK == 0u ? 1.0 : l; // no keys at all: the empty sum, 0
        for (uint e = 0u; e < DV; e++) OUT(oo + e) = OUT(oo + e) / den;
#else
        OUT(row) = (m == -INF_F ? 0.0 : m) + log(l);
#endif
#elif defined(ATT_DQ)
        uint qo = row * DH, go = row * DV;
        float lse = LSE(row), di = 0.0;
        for (uint e = 0u; e < DV; e++) di += DO(go + e) * O(go + e);
        for (uint d = 0u; d < DH; d++) OUT(qo + d) = 0.0;
        for (uint j0 = 0u; j0 < ke; j0 += CH) {
            uint n = min(CH, ke - j0);
            for (uint t = 0u; t < n; t++) {
                uint vo = (b * TK + j0 + t) * DV;
                float dp = 0.0;
                for (uint e = 0u; e < DV; e++) dp += DO(go + e) * V(vo + e);
                c[t] = SCALE * exp_(score(b, i, j0 + t) - lse) * (dp - di);
            }
            uint ko = (b * TK + j0) * DH;
            for (uint d = 0u; d < DH; d++) {
                float a = OUT(qo + d);
                for (uint t = 0u; t < n; t++) a += c[t] * K(ko + t * DH + d);
                OUT(qo + d) = a;
            }
        }
#else // ATT_DK, ATT_DV: the queries that see key j, i >= j - (TK - TQ)
#ifdef CAUSAL
        uint i0 = uint(clamp(int(j) - int(TK) + int(TQ), 0, int(TQ)));
#else
        uint i0 = 0u;
#endif
#ifdef ATT_DK
        uint oo = row * DH, vo = row * DV;
        for (uint d = 0u; d < DH; d++) OUT(oo + d) = 0.0;
#else
        uint oo = row * DV;
        for (uint e = 0u; e < DV; e++) OUT(oo + e) = 0.0;
#endif
        for (uint q0 = i0; q0 < TQ; q0 += CH) {
            uint n = min(CH, TQ - q0);
            for (uint t = 0u; t < n; t++) {
                uint qr = b * TQ + q0 + t;
                float p = exp_(score(b, q0 + t, j) - LSE(qr));
#ifdef ATT_DK
                float dp = 0.0, di = 0.0;
                for (uint e = 0u; e < DV; e++) {
                    float g = DO(qr * DV + e);
                    dp += g * V(vo + e);
                    di += g * O(qr * DV + e);
                }
                c[t] = SCALE * p * (dp - di);
#else
                c[t] = p;
#endif
            }
#ifdef ATT_DK
            for (uint d = 0u; d < DH; d++) {
                float a = OUT(oo + d);
                for (uint t = 0u; t < n; t++) a += c[t] * Q((b * TQ + q0 + t) * DH + d);
                OUT(oo + d) = a;
            }
#else
            for (uint e = 0u; e < DV; e++) {
                float a = OUT(oo + e);
                for (uint t = 0u; t < n; t++) a += c[t] * DO((b * TQ + q0 + t) * DV + e);
                OUT(oo + e) = a;
            }
#endif
        }
#endif
    }
}
