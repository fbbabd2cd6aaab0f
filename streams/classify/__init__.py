"""Classify: read every signal an event carries and decide its jurisdiction, or why none."""
