"""Each collector format's allowlist: the fields its own spec defines that may leave a region.

The language they are written in is streams/formats/allowlist.py.
"""
