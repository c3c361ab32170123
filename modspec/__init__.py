"""modspec: audio front ends for machine listening.

Importing modspec is light: NumPy, SciPy and numba's decorators only. torch and
cupy are imported by the parts that need them (``modspec.nn``, the GPU backend),
and no numba kernel is compiled until a feature is first computed.
"""

from modspec.errors import ParameterError

__version__ = "0.1.0"

__all__ = ["ParameterError", "__version__", "extract", "features", "filters", "io"]


def __getattr__(name):
    # Submodules load on first use so that `import modspec` stays cheap.
    if name in {"features", "filters", "io", "nn", "display", "kernels", "extract"}:
        import importlib

        return importlib.import_module(f"modspec.{name}")
    raise AttributeError(f"module 'modspec' has no attribute {name!r}")
