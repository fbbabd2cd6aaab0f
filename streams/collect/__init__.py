"""The HTTP collector: SDKs in, the ingest topic out (`residency-gateway collect`)."""
