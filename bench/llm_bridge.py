"""The llm bridge's start-up: ``provider-core providers --json`` with the bridge (its index
warm) against the same command without it, and against ``llm models`` (the peers venv)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .config import Config
from .measure import alternate, child_env, run_process
from .report import Row
from .startup import PEER_ENV, cli_argv, peers_venv

__all__ = ["bench_llm_bridge"]


def _installed() -> bool:
    from importlib import metadata

    try:
        metadata.distribution("provider-core-llm")
    except metadata.PackageNotFoundError:
        return False
    return True


def _lists(bridge: bool) -> Callable[[bytes], bool]:
    def check(out: bytes) -> bool:
        names = {p["name"] for p in json.loads(out)["providers"]}
        return ("llm-default" in names) == bridge

    return check


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def bench_llm_bridge(cfg: Config) -> list[Row]:
    figure = "llm bridge: `providers --json`, warm index"
    if not _installed():
        return [Row(figure, "-", "-", "<= 1.3x without the bridge", None, ["provider-core-llm is not installed"])]
    cli = [*cli_argv(), "providers", "--json"]
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        home = Path(tmp) / "llm-home"
        home.mkdir()
        where = {"LLM_USER_PATH": str(home), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        with_env = child_env(where)
        without_env = child_env({**where, "PROVIDER_CORE_DISABLE_PLUGINS": "llm"})
        started = time.perf_counter()
        run_process(cli, env=with_env, cwd=tmp, check_output=_lists(True))  # builds the index
        cold = time.perf_counter() - started
        sides: dict[str, Callable[[], float]] = {
            "without": lambda: run_process(cli, env=without_env, cwd=tmp, check_output=_lists(False)),
            "with": lambda: run_process(cli, env=with_env, cwd=tmp, check_output=_lists(True)),
        }
        ours = alternate(sides, cfg.process_rounds)
        venv = peers_venv() if cfg.peer_rounds else None
        peers = None
        if venv is not None:
            llm_env = child_env({**PEER_ENV, **where})
            sides["llm models"] = lambda: run_process([str(venv / "bin" / "llm"), "models"], cwd=tmp, env=llm_env)
            peers = alternate(sides, cfg.peer_rounds)
    ratio = ours.ratio("with", "without")
    notes = [
        f"{_ms(ours.median('with'))} with the bridge, {_ms(ours.median('without'))} without "
        f"(PROVIDER_CORE_DISABLE_PLUGINS=llm), {cfg.process_rounds} rounds; a private LLM_USER_PATH "
        f"and cache; the cold run that built the index took {_ms(cold)} (a child process imports llm).",
    ]
    rows = [
        Row(
            figure,
            f"**{ratio:.2f}x** without the bridge ({ours.difference('with', 'without') * 1e3:+.1f} ms)",
            "`providers --json` with PROVIDER_CORE_DISABLE_PLUGINS=llm",
            "<= 1.3x without the bridge",
            ratio <= 1.3,
            notes,
        )
    ]
    if peers is None:
        why = "the quick run skips peers" if not cfg.peer_rounds else "no peers venv (run `make bench-peers`)"
        rows.append(Row("llm bridge vs `llm models`", "-", "`llm models`", "<= 0.3x `llm models`", None, [why]))
        return rows
    vs_llm = peers.ratio("with", "llm models")
    rows.append(
        Row(
            "llm bridge vs `llm models`",
            f"**{vs_llm:.3f}x** `llm models` ({_ms(peers.median('with'))} vs {_ms(peers.median('llm models'))})",
            "`llm models` (peers venv, the same empty LLM_USER_PATH)",
            "<= 0.3x `llm models`",
            vs_llm <= 0.3,
            [f"{cfg.peer_rounds} rounds; llm lists the same built-in models the bridge serves."],
        )
    )
    return rows
