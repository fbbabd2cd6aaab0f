"""Transform: make each planned record; exported copies hold only what their allowlist names."""
