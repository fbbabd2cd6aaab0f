"""Pseudonymization keys: the key ring, where keys come from, and reloading them while running."""
