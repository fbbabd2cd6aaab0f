"""Residency Gateway: decide each tracking event's jurisdiction and keep it at home."""

__version__ = "0.1.0"
