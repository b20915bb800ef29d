"""provider-core's benchmarks: ``python -m bench`` (full, writes bench/RESULTS.md) or
``python -m bench --quick`` (under a minute, writes nothing). Method: docs/benchmarks.md."""
