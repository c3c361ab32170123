import subprocess
import sys

CHECK = """
import sys
import modspec, modspec.features, modspec.filters
from modspec.kernels import cpu
assert "torch" not in sys.modules, "torch imported"
assert "cupy" not in sys.modules, "cupy imported"
compiled = [k.py_func.__name__ for k in cpu.all_kernels() if k.signatures]
assert cpu.all_kernels(), "no kernels found"
assert not compiled, f"compiled at import: {compiled}"
print("ok")
"""


def test_import_is_light():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_first_feature_call_compiles_kernels():
    # The check above must be able to fail: a computed feature does compile.
    code = CHECK.replace('print("ok")', "") + """
import numpy as np
modspec.features.melspectrogram(np.zeros(4000, np.float32), sr=16000)
print(sorted(k.py_func.__name__ for k in cpu.all_kernels() if k.signatures))
"""
    code = code.replace('assert not compiled, f"compiled at import: {compiled}"', "")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "_block_to_bands" in result.stdout
