"""``python -m provider_core``: the same as the ``provider-core`` command."""

from .cli import run

if __name__ == "__main__":
    run()
