/* cmd_run.c — `tfc run` (a model on .npy inputs), `tfc conform` (a backend against
 * the reference) and `tfc devices`. */
#include "driver.h"

const char *usage_run =
    "usage: tfc run FILE [-D name=value]... [--model NAME] --target ref\n"
    "               [--weights W.safetensors] [--seed N] --input NAME=FILE.npy...\n"
    "               [--config config.json] [-o OUT.npy] [pass options]\n"
    "\n"
    "Runs the model's forward function. FILE is a .tfm model or a .tfir module.\n"
    "Weights missing from --weights are drawn from the model's initialisers with\n"
    "--seed (default 0): the same seed draws the same weights on every target.\n"
    "Inputs and outputs are NumPy .npy files (f32 or i32, C order). With one output\n"
    "and -o, it is written to OUT.npy; with several, to OUT.0.npy, OUT.1.npy, ...\n"
    "Without -o, each output's shape and first values are printed.\n"
    "\n"
    "  --target ref    the reference interpreter (default)\n"
    "  --target cpu    LLVM-compiled kernels on a thread pool (docs/cpu-backend.md)\n"
    "  --threads N     cpu: worker threads (default: all cores)\n"
    "  --profile       print a per-kernel time table\n"
    "  --config FILE   a Hugging Face config.json: its n_layer, n_head, n_embd,\n"
    "                  vocab_size, n_positions become -D overrides (a -D given wins),\n"
    "                  and --weights must then hold exactly the model's weights\n"
    "                  (HF's attn.bias buffers are ignored)\n"
    "  --grad          run @forward_grad instead (autodiff, docs/autodiff.md): the\n"
    "                  loss (the model's first output, a scalar) then the gradient\n"
    "                  of every float weight, in the module's weight order\n";
int cmd_devices(void) {
#ifdef TFC_HAVE_VULKAN
    char err[1024];
    if (!vk_list_devices(stdout, err, sizeof err)) return fail("%s%s", err, "");
    return 0;
#else
    return fail("this tfc was built without the Vulkan backend (-DTFC_VULKAN=OFF)%s%s", "", "");
#endif
}
static const char *usage_conform =
    "usage: tfc conform --target ref|cpu|vulkan [--threads N] [--models DIR] [--filter TEXT]\n"
    "\n"
    "Runs every op on random inputs of awkward shapes, and GPT-2 tiny graphs (forward,\n"
    "backward, a training step), on the target and on the reference interpreter, and\n"
    "compares them within the tolerance each case states (runtime/conform.c). Prints one\n"
    "line per case, then `N passed, M failed`; exits 1 if any case failed.\n"
    "\n"
    "  --models DIR   where gpt2.tfm is (default: models)\n"
    "  --filter TEXT  only the cases whose name contains TEXT\n";

int cmd_conform(int argc, char **argv) {
    RtConformOptions o = {.target = NULL};
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        int m = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_conform, stdout);
            return 0;
        } else if ((m = flag_value(argc, argv, &i, "--target", &v))) {
            o.target = v;
        } else if ((m = flag_value(argc, argv, &i, "--models", &v))) {
            o.models_dir = v;
        } else if ((m = flag_value(argc, argv, &i, "--filter", &v))) {
            o.filter = v;
        } else if ((m = flag_value(argc, argv, &i, "--threads", &v))) {
            o.backend.threads = m > 0 ? atoi(v) : 0;
            if (m > 0 && (o.backend.threads < 1 || o.backend.threads > 256))
                return fail("--threads needs a number of threads in 1..256, got '%s'%s", v, "");
        } else {
            return fail("unknown option '%s' (see tfc conform --help)%s", argv[i], "");
        }
        if (m < 0) return 1;
    }
    if (!o.target) return fail("conform needs --target NAME (see tfc conform --help)%s%s", "", "");
    char err[256];
    if (!rt_target_exists(o.target, err, sizeof err)) return fail("%s%s", err, "");
    o.backend.device = -1;
    return rt_conform(&o, stdout) == 0 ? 0 : 1;
}
static void print_preview(const char *name, const Tensor *t) {
    char shape[128];
    printf("%s: %s", name, tensor_shape_str(t, shape, sizeof shape));
    int64_t n = tensor_numel(t);
    printf(" [");
    for (int64_t i = 0; i < n && i < 8; i++) {
        if (t->dtype == DT_F32)
            printf(i ? ", %.6g" : "%.6g", ((const float *)t->data)[i]);
        else
            printf(i ? ", %d" : "%d", ((const int32_t *)t->data)[i]);
    }
    printf("%s]\n", n > 8 ? ", ..." : "");
}

int cmd_run(Args *a) {
    char terr[256];
    if (a->target && !rt_target_exists(a->target, terr, sizeof terr)) return fail("%s%s", terr, "");
    IrModule *m = load_module(a);
    if (!m) return 1;
    int rc = 1;
    RtNamedTensor inputs[MAX_INPUTS] = {{0}};
    int ninputs = 0;
    RtOutputs outs = {0};
    char err[1024];
    bool artifact = is_artifact(a->file); /* already optimized: no passes */
    int dev;
    if (!parse_device(a, &dev)) goto done;
    if (a->grad) { /* the loss and every weight's gradient, as `tfc compile --grad` builds them */
        IrFunc *fwd = artifact ? NULL : ir_module_find_func(m, "forward");
        if (fwd && !pass_run_pre_grad(m, &a->passes, err, sizeof err)) {
            fail("%s%s", err, "");
            goto done;
        }
        if (!fwd || !ad_build_grad_func(fwd, 0, err, sizeof err)) {
            fail("%s%s", fwd ? err : "--grad needs a .tfm model with a @forward to differentiate", "");
            goto done;
        }
    }
    if (!artifact && !run_passes(m, a)) goto done;
    for (int i = 0; i < a->ninputs; i++) {
        const char *eq = strchr(a->inputs[i], '=');
        char *name = xmalloc((size_t)(eq - a->inputs[i]) + 1);
        memcpy(name, a->inputs[i], (size_t)(eq - a->inputs[i]));
        name[eq - a->inputs[i]] = 0;
        inputs[ninputs].name = name;
        inputs[ninputs].tensor = rt_npy_read(eq + 1, err, sizeof err);
        ninputs++;
        if (!inputs[ninputs - 1].tensor) {
            fail("%s%s", err, "");
            goto done;
        }
    }
    RtRunOptions ro = {.func = a->grad ? "forward_grad" : "forward", .weights_path = a->weights, .seed = a->seed,
                       .strict_weights = a->config != NULL,
                       .target = a->target ? a->target : artifact ? "vulkan" : "ref"};
    ro.backend = (BkOptions){.device = dev, .profile = a->profile, .threads = a->threads,
                             .artifact = artifact ? a->file : NULL};
    if (!rt_model_run(m, &ro, inputs, ninputs, &outs, err, sizeof err)) {
        fail("%s%s", err, "");
        goto done;
    }
    rc = 0;
    for (int i = 0; i < outs.n && rc == 0; i++) {
        if (!a->out) {
            print_preview(outs.names[i], outs.tensors[i]);
            continue;
        }
        char path[4096];
        if (outs.n == 1) {
            snprintf(path, sizeof path, "%s", a->out);
        } else {
            size_t k = strlen(a->out);
            if (has_suffix(a->out, ".npy")) k -= 4;
            snprintf(path, sizeof path, "%.*s.%d.npy", (int)k, a->out, i);
        }
        if (!rt_npy_write(path, outs.tensors[i], err, sizeof err)) rc = fail("%s%s", err, "");
    }
done:
    for (int i = 0; i < ninputs; i++) {
        free((char *)inputs[i].name);
        tensor_destroy(inputs[i].tensor);
    }
    rt_outputs_free(&outs);
    ir_module_destroy(m);
    return rc;
}

/* ---- tokenize, detokenize: GPT-2 BPE (runtime/bpe.h) ---- */
