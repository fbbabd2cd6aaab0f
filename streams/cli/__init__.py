"""The `residency-gateway` command line: one module per command group, gathered here.

run (run.py); collect (collect.py); replay (replay.py); shadow (shadow.py); explain, allowlist,
check-config (policy.py); topics (topics.py); keys (keys.py); policy publish (policy_publish.py);
top (top_command.py, the view in top.py); demo and broker (dev.py, which needs streams.devtools).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from streams import __version__
from streams.cli import collect, dev, keys, policy, policy_publish, replay, run, shadow, top_command, topics


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="residency-gateway")
def main() -> None:
    """Decide each tracking event's jurisdiction; keep full data in its home region."""


# The modules stay the package's attributes (streams.cli.run is the module, its command is run.run).
for command in (
    run.run,
    replay.replay,
    collect.collect,
    shadow.shadow,
    policy.explain,
    policy.allowlist,
    policy.check_config,
    dev.demo,
    top_command.top,
    dev.broker,
    topics.topics,
    keys.keys_group,
    policy_publish.policy_group,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=Path(sys.argv[0]).name)
