"""The side-by-side throughput and latency benchmark (issue 6): `python -m loadtests.bench`."""
