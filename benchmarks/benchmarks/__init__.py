"""asv benchmarks of modspec, one module per layer (see ../README.md)."""
