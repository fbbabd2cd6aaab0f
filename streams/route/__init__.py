"""Route: a decided event's plan of records to write, with consent and erasure decided."""
