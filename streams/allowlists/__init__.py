"""Each collector format's allowlist: the fields its own spec defines that may leave a region (streams/allowlist.py)."""
