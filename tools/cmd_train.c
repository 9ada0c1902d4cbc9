/* cmd_train.c — `tfc train SCRIPT`: flags, then runtime/train.c does the work. */
#include "driver.h"

static const char *usage_train =
    "usage: tfc train SCRIPT [--target ref|cpu|vulkan] [--steps N] [--seed N]\n"
    "                 [--save CKPT] [--resume CKPT] [--metrics FILE] [--threads N] [--export DIR]\n"
    "                 [--disable-pass=LIST]\n"
    "\n"
    "Trains the model a training script names (docs/training.md): forward, loss,\n"
    "backward and optimizer compiled into one step, run --steps times. The last line\n"
    "is `final: step=N train_loss=X val_loss=Y [val_acc=Z] baseline=B`.\n"
    "\n"
    "  --steps N        train to step N (default: the script's steps)\n"
    "  --seed N         initial weights, data order and samples (default: the script's)\n"
    "  --save CKPT      checkpoint path (default: the script's `save`)\n"
    "  --resume CKPT    continue from a checkpoint, bit for bit as if never stopped\n"
    "  --metrics FILE   JSONL, one object per step (default: runs/NAME/metrics.jsonl);\n"
    "                   the loss plot goes beside it (FILE with .svg)\n"
    "  --threads N      backend threads\n"
    "  --export DIR     at the end, write DIR/model.safetensors + DIR/config.json, a\n"
    "                   Hugging Face GPT-2 for tfc run/generate --config (default: the\n"
    "                   script's `export`)\n"
    "  --disable-pass=LIST  skip the named passes (e.g. fuse-attention: train on the\n"
    "                   unfused softmax attention; see `tfc passes`)\n";

int cmd_train(int argc, char **argv) {
    RtTrainOptions o = {0};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        int m = 0;
        char *end = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage_train, stdout);
            return 0;
        }
        if ((m = flag_value(argc, argv, &i, "--target", &v)) > 0) o.target = v;
        else if ((m = flag_value(argc, argv, &i, "--save", &v)) > 0) o.save = v;
        else if ((m = flag_value(argc, argv, &i, "--resume", &v)) > 0) o.resume = v;
        else if ((m = flag_value(argc, argv, &i, "--metrics", &v)) > 0) o.metrics = v;
        else if ((m = flag_value(argc, argv, &i, "--export", &v)) > 0) o.export_dir = v;
        else if ((m = flag_value(argc, argv, &i, "--disable-pass", &v)) > 0) o.disable_passes = v;
        else if ((m = flag_value(argc, argv, &i, "--steps", &v)) > 0 ||
                 (m = flag_value(argc, argv, &i, "--seed", &v)) > 0 ||
                 (m = flag_value(argc, argv, &i, "--threads", &v)) > 0) {
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (*end || end == v || errno || v[0] == '-' || n > (1ull << 40))
                return fail("%s needs a non-negative integer, got '%s'", argv[i - (argv[i] == v)], v);
            const char *flag = argv[i] == v ? argv[i - 1] : s;
            if (strncmp(flag, "--steps", 7) == 0) {
                if (n == 0) return fail("--steps must be at least 1%s%s", "", "");
                o.steps = (int64_t)n;
            } else if (strncmp(flag, "--seed", 6) == 0) {
                o.seed = n;
                o.seed_given = true;
            } else {
                o.threads = (int)n;
            }
        } else if (m < 0) {
            return 1;
        } else if (s[0] == '-' && s[1]) {
            return fail("unknown option '%s' (see tfc train --help)%s", s, "");
        } else if (!o.script) {
            o.script = s;
        } else {
            return fail("unexpected argument '%s' (one training script only)%s", s, "");
        }
    }
    if (!o.script) return fail("no training script (see tfc train --help)%s%s", "", "");
    char err[2048];
    if (!rt_train(&o, err, sizeof err)) {
        if (*err) fail("%s%s", err, "");
        return 1;
    }
    return 0;
}
