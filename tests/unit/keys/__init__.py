"""Unit tests of streams/keys/: the key ring, providers and reloading."""
