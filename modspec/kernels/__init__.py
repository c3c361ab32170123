"""Kernels: the array code behind modspec.features (CPU: numba; GPU: numba.cuda + CuPy).

Nothing here validates input: the public functions in modspec.features do.
"""
