"""Kafka I/O: the batch engine that feeds the pure pipeline, client settings and topic admin."""
