"""How much each benchmark measures: the full run and the quick one."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["FULL", "QUICK", "Config"]


@dataclass(frozen=True)
class Config:
    name: str
    #: alternating rounds of fresh interpreters (import, CLI, plugins)
    process_rounds: int
    #: rounds that include the peers (`llm models`, `import litellm` take seconds each)
    peer_rounds: int
    plugin_count: int
    route_sizes: tuple[int, ...]
    #: calls per timed batch, and batches (the figure is the median batch's per-call time)
    route_calls: int
    route_rounds: int
    overhead_calls: int
    overhead_rounds: int
    #: megabytes per streamed reply, and alternating rounds
    stream_mb: int
    stream_rounds: int
    #: a second throughput figure with token-sized HTTP chunks (per-chunk costs dominate)
    small_chunk: int
    small_chunk_mb: int
    ttfc_requests: int
    memory_small_mb: int
    memory_big_mb: int
    memory_rounds: int
    threads: int
    thread_mb: int
    concurrency_rounds: int
    #: a streamed tool call: argument deltas per call, and alternating rounds
    tool_pieces: int
    tool_rounds: int
    #: the Anthropic plugin's stream: KiB of text, characters per text delta, alternating
    #: rounds, and requests for the time to first chunk
    anthropic_kib: int
    anthropic_delta: int
    anthropic_rounds: int
    anthropic_ttfc_requests: int
    #: the Gemini plugin's stream: megabytes, characters per text delta (one row each; the
    #: first also for the time to first chunk), alternating rounds, and requests for the
    #: time to first chunk
    gemini_mb: int
    gemini_pieces: tuple[int, ...]
    gemini_rounds: int
    gemini_ttfc_requests: int


FULL = Config(
    name="full",
    process_rounds=21,
    peer_rounds=7,
    plugin_count=50,
    route_sizes=(10, 100, 1_000, 10_000),
    route_calls=20_000,
    route_rounds=15,
    overhead_calls=5_000,
    overhead_rounds=15,
    stream_mb=200,
    stream_rounds=7,
    small_chunk=256,
    small_chunk_mb=20,
    ttfc_requests=301,
    memory_small_mb=1,
    memory_big_mb=1024,
    memory_rounds=3,
    threads=64,
    thread_mb=1,
    concurrency_rounds=3,
    tool_pieces=2_000,
    tool_rounds=15,
    anthropic_kib=4_096,
    anthropic_delta=16,
    anthropic_rounds=9,
    anthropic_ttfc_requests=301,
    gemini_mb=8,
    gemini_pieces=(64, 512),
    gemini_rounds=11,
    gemini_ttfc_requests=301,
)

#: The full run's shape at a fraction of its size: under a minute, for CI to keep it alive.
QUICK = replace(
    FULL,
    name="quick",
    process_rounds=5,
    peer_rounds=0,
    route_calls=2_000,
    route_rounds=5,
    overhead_calls=1_000,
    overhead_rounds=5,
    stream_mb=20,
    stream_rounds=3,
    small_chunk_mb=5,
    ttfc_requests=41,
    memory_big_mb=64,
    memory_rounds=1,
    concurrency_rounds=2,
    tool_pieces=500,
    tool_rounds=5,
    anthropic_kib=1_024,
    anthropic_rounds=3,
    anthropic_ttfc_requests=41,
    gemini_mb=2,
    gemini_rounds=3,
    gemini_ttfc_requests=41,
)
