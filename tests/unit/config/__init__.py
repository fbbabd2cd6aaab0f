"""Unit tests of streams/config/ and the policies in config/."""
