"""The running service: how the gateway's parts are put together (wiring)."""
