"""Benchmarks of modspec.

``benchmarks/benchmarks/`` is the asv suite (run from this folder with
``asv run``); ``benchmarks/compare.py`` is the side-by-side comparison with
librosa and torch (``python -m benchmarks.compare`` from the repository root).
"""
