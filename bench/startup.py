"""Start-up figures, each in fresh interpreters: ``import provider_core``, the CLI's cold
start (against bare Python and the peers), and the CLI with fifty plugins installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .config import Config
from .measure import REPO, BenchError, alternate, child_env, median, run_process
from .plugingen import install_plugins
from .report import Row

__all__ = ["bench_cli", "bench_import", "bench_many_plugins", "cli_argv", "peers_venv"]

HEAVY = ("pluggy", "pydantic", "requests", "urllib3", "importlib_metadata")
#: Peers must never reach the network from a benchmark: LiteLLM would fetch its price list.
PEER_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_PROXY": "*"}


def _python() -> str:
    return sys.executable


def cli_argv() -> list[str]:
    script = Path(sys.executable).with_name("provider-core")
    return [str(script)] if script.exists() else [sys.executable, "-m", "provider_core"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _importtime(cwd: str) -> float:
    """Cumulative microseconds ``-X importtime`` reports for the top-level provider_core."""
    proc = subprocess.run(
        [_python(), "-X", "importtime", "-c", "import provider_core"],
        env=child_env(),
        cwd=cwd,
        capture_output=True,
        timeout=60,
        check=True,
    )
    for line in proc.stderr.decode().splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| provider_core$", line)
        if m:
            return int(m.group(1)) / 1e6
    raise BenchError("-X importtime printed no line for provider_core")


def _top_level_imports(argv: list[str], cwd: str) -> dict[str, float]:
    """Seconds of each top-level import of ``python -X importtime ARGV``, summed by root
    package (``provider_core.cli`` and ``provider_core.registry`` count as ``provider_core``)."""
    proc = subprocess.run(
        [_python(), "-X", "importtime", *argv], env=child_env(), cwd=cwd, capture_output=True, timeout=60, check=False
    )
    out: dict[str, float] = {}
    for line in proc.stderr.decode().splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not line.startswith("import time:") or not parts[1].strip().isdigit():
            continue
        name = parts[2][1:]
        if name != name.lstrip():
            continue  # nested: counted in its top-level importer
        root = name.split(".")[0]
        out[root] = out.get(root, 0.0) + int(parts[1]) / 1e6
    return out


def _import_breakdown(cwd: str, runs: int) -> str:
    """Where the CLI's imports go: the largest root packages it imports that bare Python does not."""
    cli = cli_argv()
    argv = [*(cli[1:] if cli[0] == sys.executable else cli), "providers", "--json"]
    bare = _top_level_imports(["-c", "pass"], cwd)
    samples = [_top_level_imports(argv, cwd) for _ in range(runs)]
    roots = {root for sample in samples for root in sample if root not in bare}
    ms = {root: median([sample.get(root, 0.0) for sample in samples]) * 1e3 for root in roots}
    top = sorted(ms.items(), key=lambda kv: -kv[1])[:8]
    return (
        f"`-X importtime` of the CLI: imports beyond bare Python total {sum(ms.values()):.0f} ms, largest "
        + ", ".join(f"{root} {value:.1f}" for root, value in top)
        + " ms (a package counts the modules it imports first, stdlib included)."
    )


def bench_import(cfg: Config) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as cwd:
        py = _python()
        samples = alternate(
            {
                "bare": lambda: run_process([py, "-c", "pass"], cwd=cwd),
                "import": lambda: run_process([py, "-c", "import provider_core"], cwd=cwd),
            },
            cfg.process_rounds,
        )
        importtime = median([_importtime(cwd) for _ in range(max(3, cfg.process_rounds // 3))])
        probe = f"import sys, provider_core; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
        loaded = subprocess.run(
            [py, "-c", probe], env=child_env(), cwd=cwd, capture_output=True, timeout=60, check=True
        ).stdout.decode()
    over = samples.difference("import", "bare")
    heavy = [m for m in loaded.strip().split(",") if m]
    notes = [
        f"`-X importtime` puts provider_core's own cumulative import at {_ms(importtime)}; "
        + (f"it loads {', '.join(heavy)}" if heavy else f"it loads none of {', '.join(HEAVY)}")
        + " (they load at the first query or request)."
    ]
    return [
        Row(
            "`import provider_core`",
            f"{over * 1e3:+.1f} ms over bare ({_ms(samples.median('import'))} vs {_ms(samples.median('bare'))} wall)",
            "`python -c pass`",
            "<= 25 ms over bare Python",
            over <= 0.025,
            notes,
        )
    ]


def peers_venv() -> Path | None:
    """The venv `make bench-peers` made (or ``BENCH_PEERS_VENV``), when it has llm and litellm."""
    root = Path(os.environ.get("BENCH_PEERS_VENV") or REPO / ".bench-peers-venv")
    ok = (root / "bin" / "llm").exists() and (root / "bin" / "python").exists()
    return root if ok else None


def _peer_version(venv: Path, dist: str) -> str:
    code = f"from importlib.metadata import version; print(version({dist!r}))"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, timeout=60, check=False, env=child_env()
    )
    return proc.stdout.decode().strip() or "?"


def _providers_json(expect: set[str]):
    def check(out: bytes) -> bool:
        names = {p["name"] for p in json.loads(out)["providers"]}
        return expect <= names

    return check


def _aivvm_installed() -> bool:
    try:
        metadata.distribution("provider-core-aivvm")
    except metadata.PackageNotFoundError:
        return False
    return True


def _installed_plugins(cwd: str) -> str:
    proc = subprocess.run(
        [*cli_argv(), "plugins", "--json"], env=child_env(), cwd=cwd, capture_output=True, timeout=60, check=False
    )
    try:
        plugins = json.loads(proc.stdout)["plugins"]
    except (ValueError, KeyError):
        return "?"
    return ", ".join(f"{p['name']} ({p['status']})" for p in plugins) or "none"


def bench_cli(cfg: Config) -> list[Row]:
    aivvm = _aivvm_installed()
    expect = {"Aivvm"} if aivvm else set()
    notes = []
    if not aivvm:
        notes.append("provider-core-aivvm is not installed here: the CLI started with the core alone.")
    cli = [*cli_argv(), "providers", "--json"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as cwd:
        py = _python()
        sides = {
            "bare": lambda: run_process([py, "-c", "pass"], cwd=cwd),
            "cli": lambda: run_process(cli, cwd=cwd, check_output=_providers_json(expect)),
        }
        ours = alternate(sides, cfg.process_rounds)
        notes.append(f"plugins: {_installed_plugins(cwd)}.")
        notes.append(_import_breakdown(cwd, max(3, cfg.process_rounds // 3)))
        venv = peers_venv() if cfg.peer_rounds else None
        peers = None
        if venv is not None:
            env = child_env({**PEER_ENV, "LLM_USER_PATH": str(Path(cwd) / "llm-home")})
            sides["llm models"] = lambda: run_process([str(venv / "bin" / "llm"), "models"], cwd=cwd, env=env)
            sides["import litellm"] = lambda: run_process(
                [str(venv / "bin" / "python"), "-c", "import litellm"], cwd=cwd, env=env
            )
            sides["import llm"] = lambda: run_process(
                [str(venv / "bin" / "python"), "-c", "import llm"], cwd=cwd, env=env
            )
            peers = alternate(sides, cfg.peer_rounds)
    over = ours.difference("cli", "bare")
    result = f"{_ms(ours.median('cli'))} wall, {over * 1e3:+.1f} ms over bare"
    rows = []
    if peers is None:
        why = "the quick run skips peers" if not cfg.peer_rounds else "no peers venv (run `make bench-peers`)"
        notes.append(f"peer comparison skipped: {why}.")
        rows.append(Row("CLI cold start", result, "`python -c pass`", "<= 0.15x `llm models`", None, notes))
        return rows
    vs_llm = peers.ratio("cli", "llm models")
    vs_litellm = peers.ratio("cli", "import litellm")
    llm_v, litellm_v = _peer_version(venv, "llm"), _peer_version(venv, "litellm")
    notes.append(
        f"peers from {venv.name}: llm {llm_v}, litellm {litellm_v}; "
        f"`llm models` {_ms(peers.median('llm models'))}, `import llm` {_ms(peers.median('import llm'))}, "
        f"`import litellm` {_ms(peers.median('import litellm'))}, "
        f"bare Python {_ms(peers.median('bare'))} in those rounds ({cfg.peer_rounds} rounds)."
    )
    rows.append(
        Row(
            "CLI cold start: `provider-core providers --json`",
            f"{result}; **{vs_llm:.3f}x** `llm models`, {vs_litellm:.3f}x `import litellm`",
            "`python -c pass`, `llm models`, `python -c 'import litellm'`",
            "<= 0.15x `llm models`",
            vs_llm <= 0.15,
            notes,
        )
    )
    return rows


def bench_many_plugins(cfg: Config) -> list[Row]:
    n = cfg.plugin_count
    with tempfile.TemporaryDirectory(prefix="bench-plugins-") as tmp:
        root = Path(tmp)
        one, many = root / "one", root / "many"
        names_one = install_plugins(1, one, root / "wheels-one")
        names_many = install_plugins(n, many, root / "wheels-many")
        cli = [*cli_argv(), "providers", "--json"]
        sides = {
            "one": lambda: run_process(
                cli, cwd=tmp, env=child_env({"PYTHONPATH": str(one)}), check_output=_providers_json(set(names_one))
            ),
            "many": lambda: run_process(
                cli, cwd=tmp, env=child_env({"PYTHONPATH": str(many)}), check_output=_providers_json(set(names_many))
            ),
        }
        samples = alternate(sides, cfg.process_rounds)
    ratio = samples.ratio("many", "one")
    per = samples.difference("many", "one") / (n - 1)
    return [
        Row(
            f"start-up with {n} plugins",
            f"**{ratio:.2f}x** one plugin ({_ms(samples.median('many'))} vs {_ms(samples.median('one'))}; "
            f"{per * 1e3:.2f} ms per extra plugin)",
            "`providers --json` with 1 generated plugin",
            "<= 1.5x start-up with one",
            ratio <= 1.5,
            [
                f"{n} generated wheels, `pip install --no-deps --target`, on PYTHONPATH; "
                "every run checks that all are listed."
            ],
        )
    ]
