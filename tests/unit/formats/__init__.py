"""Unit tests of streams/formats/: decoding, exact JSON, each collector's events and consent."""
