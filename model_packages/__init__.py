"""Stage weights once and build one byte-deterministic serving package per cloud."""
