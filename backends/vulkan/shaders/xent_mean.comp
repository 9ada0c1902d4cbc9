// xent_mean.comp — cross-entropy, second pass: one workgroup sums the NPOS per-position
// losses (binding 1, the scratch buffer) and writes their mean (NaN for no positions).
void main() {
    uint lid = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint k = lid; k < NPOS; k += WG) s += b1.d[k];
    s = wg_sum(s);
    if (lid == 0u) b0.d[0] = NPOS == 0u ? NAN_F : s / float(NPOS);
}
