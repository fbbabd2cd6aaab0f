"""Unit tests of streams/service/: metrics, logs, the worker's watchdog, the bridge example."""
