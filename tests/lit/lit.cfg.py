# lit configuration for tfc's IR, pass and diagnostic tests.
# Substitutions: %tfc (the driver), FileCheck, not (inverts the exit code),
# %python (Debian's python3), %S/%s/%t as usual, %models (the models/ folder).
import os
import lit.formats

config.name = "tfc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".tfir", ".tfm", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)

params = lit_config.params
tfc = params.get("tfc", "tfc")
filecheck = params.get("filecheck", "FileCheck-16")
python = params.get("python", "python3")
if params.get("exec_root"):
    config.test_exec_root = params.get("exec_root")
root = params.get("source_root", os.path.join(os.path.dirname(__file__), "..", ".."))

config.substitutions.append(("%tfc", tfc))
config.substitutions.append(("%python", python))
config.substitutions.append(("%models", os.path.join(root, "models")))
config.substitutions.append(("FileCheck", filecheck))
config.substitutions.append(("not ", "/usr/lib/llvm-16/bin/not "))
config.environment["TFC_NO_COLOR"] = "1"
for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
