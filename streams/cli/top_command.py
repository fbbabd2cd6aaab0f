"""`top`: the command around the live view in streams/cli/top.py."""

from __future__ import annotations

import logging
import sys

import click

from streams.cli.common import PORT, fail

log = logging.getLogger(__name__)


@click.command()
@click.option("--url", help="The running gateway's web address (its --web-host and --web-port).")
@click.option("--port", type=PORT, help="Shorthand for --url http://127.0.0.1:PORT. Default: 6066.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True)
@click.option("--once", is_flag=True, help="Print one frame (rates over one interval) and exit.")
def top(url: str | None, port: int | None, interval: float, once: bool) -> None:
    """A live view of a running gateway from its /metrics: rates per region topic, quarantine and
    dead letters, records in, key waits and consumer lag."""
    from streams.cli.top import ScrapeFailed, endpoints, watch

    if url is not None and port is not None:
        fail("give --url or --port, not both")
    metrics_url, health_url = endpoints(url, port)
    try:
        watch(metrics_url, health_url, sys.stdout, interval=interval, once=once, clear=sys.stdout.isatty())
    except ScrapeFailed as error:
        fail(f"can't read the gateway's metrics: {error}", code=1)
    except KeyboardInterrupt:
        pass
