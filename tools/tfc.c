/* tfc.c — the command-line driver's usage text and dispatch; each command lives in its
 * own cmd_*.c (see driver.h). Exit codes: 0 success, 1 user error (a message on stderr);
 * internal errors abort with file:line. */
#include "driver.h"

#ifndef TFC_VERSION
#define TFC_VERSION "dev"
#endif

static const char *usage_main =
    "usage: tfc COMMAND [options]\n"
    "\n"
    "tfc compiles transformer models written in the .tfm language into a graph IR,\n"
    "optimizes it, and runs it.\n"
    "\n"
    "commands:\n"
    "  compile FILE.tfm   check and lower a model; print its AST or IR\n"
    "  opt FILE.tfir      read IR, run passes, print IR\n"
    "  run FILE           run a model (.tfm or .tfir) on .npy inputs\n"
    "  passes             list the optimization passes\n"
    "  devices            list the Vulkan devices and their limits\n"
    "  train SCRIPT       train a model from a training script (docs/training.md)\n"
    "  generate FILE.tfm  continue a prompt, streaming the text (GPT-2, KV cache)\n"
    "  tokenize           text to GPT-2 token ids;  detokenize: ids to text\n"
    "  conform --target T compare a backend with the reference, op by op and on GPT-2\n"
    "\n"
    "  tfc COMMAND --help    options of one command\n"
    "  tfc --version         print the version\n"
    "\n"
    "examples:\n"
    "  tfc compile models/gpt2.tfm --emit=ir -D n_layer=2\n"
    "  tfc opt test.tfir --passes=cse,dce\n"
    "  tfc run models/gpt2.tfm -D n_layer=2 -D n_embd=64 -D n_head=4 -D vocab=256 \\\n"
    "      --target ref --input idx=idx.npy -o logits.npy\n";

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tfc %s\n", TFC_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    static char usage[4096];
    const char *base = strcmp(cmd, "compile") == 0 ? usage_compile
                       : strcmp(cmd, "opt") == 0   ? usage_opt
                       : strcmp(cmd, "run") == 0   ? usage_run
                       : strcmp(cmd, "generate") == 0 ? usage_generate
                                                   : NULL;
    if (strcmp(cmd, "passes") == 0) return cmd_passes();
    if (strcmp(cmd, "conform") == 0) return cmd_conform(argc - 2, argv + 2);
    if (strcmp(cmd, "devices") == 0) return cmd_devices();
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "tokenize") == 0 || strcmp(cmd, "detokenize") == 0)
        return cmd_tokenize(argc - 2, argv + 2, strcmp(cmd, "detokenize") == 0);
    if (!base) return fail("unknown command '%s' (commands: compile, opt, run, train, generate, tokenize, detokenize, conform, devices, passes; see tfc --help)", cmd, "");
    snprintf(usage, sizeof usage, "%s\n%s", base, usage_pass_flags);
    Args a = {0};
    bool ids_flag = false; /* generate --ids */
    for (int i = 2; i < argc; i++)
        if (strcmp(cmd, "generate") == 0 && strcmp(argv[i], "--ids") == 0) {
            ids_flag = true;
            memmove(&argv[i], &argv[i + 1], sizeof *argv * (size_t)(argc - i));
            argc--;
            break;
        }
    bool ok = parse_args(argc - 2, argv + 2, &a, usage);
    int rc;
    if (!ok) rc = 1;
    else if (a.help) rc = 0;
    else if (strcmp(cmd, "compile") == 0) rc = cmd_compile(&a);
    else if (strcmp(cmd, "opt") == 0) rc = cmd_opt(&a);
    else if (strcmp(cmd, "generate") == 0) rc = cmd_generate(&a, ids_flag);
    else rc = cmd_run(&a);
    for (int i = 0; i < a.ndefines; i++) free((char *)a.defines[i].name);
    return rc;
}
