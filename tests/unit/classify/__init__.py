"""Unit tests of streams/classify/: signals, geolocation, the jurisdiction decision."""
