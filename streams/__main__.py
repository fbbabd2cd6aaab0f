"""Allow `python -m streams` as an alias of the `residency-gateway` console script."""

from streams.cli import main

main()
