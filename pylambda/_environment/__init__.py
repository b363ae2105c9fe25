"""The parent side of the process boundary: the zygote, environments, the pool."""
