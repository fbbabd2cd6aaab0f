"""Data subjects: per-subject keys, reversible tokens, erasure requests and state."""
