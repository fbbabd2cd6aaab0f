"""Unit tests of streams/subjects/: tokens, erasure requests and state."""
