// reduce.comp — sum / max / mean over a set of axes: one workgroup per output element
// (ROW_SERIAL: one invocation, common.glsl),
// its invocations stride over the COUNT reduced elements. red_base(o) and red_off(r)
// (generated) map an output index and a reduced index to input offsets; LOAD_X(i) reads
// the input there (a fused kernel computes it from its operands). ACC_T, INIT, COMBINE,
// WG_REDUCE and FINISH are defined by the generated header for the op.
void main() {
    uint lid = ROW_LID;
    for (uint row = ROW_FIRST; row < ROWS; row += ROW_STEP) {
        uint base = red_base(row);
        ACC_T acc = INIT;
        for (uint r = lid; r < COUNT; r += ROW_WG) acc = COMBINE(acc, LOAD_X(base + red_off(r)));
        acc = WG_REDUCE(acc);
        if (lid == 0u) b0.d[row] = FINISH(acc);
    }
}
