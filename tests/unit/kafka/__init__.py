"""Unit tests of streams/kafka/ with in-memory clients, and the ACL plan."""
