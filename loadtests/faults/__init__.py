"""Fault runs: numbered canaries through the gateway while it is killed, rebalanced, cut off."""
