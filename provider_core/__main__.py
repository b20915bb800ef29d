"""``provider-core`` (the console script) and ``python -m provider_core``: the CLI in a
process of its own, :func:`provider_core.cli.run`.

The garbage collector is turned off here, before the CLI is imported, and the CLI turns it
back on once its start-up is over (:func:`provider_core.cli.run` says why).
"""

import gc


def run() -> None:
    """Run the CLI on ``sys.argv`` and exit with its code."""
    gc.disable()  # before the CLI's imports: they are a part of its start-up
    from .cli import run as run_cli

    run_cli(collector_off=True)


if __name__ == "__main__":
    run()
