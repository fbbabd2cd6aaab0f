"""Unit tests of streams/transform/: copies, the value scan, pseudonyms and the other transforms."""
