"""Rows of results and the Markdown they are printed and saved as."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Row", "render", "write_results"]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Row:
    """One line of the table.

    ``met`` is ``True``/``False`` when the figure has a target it was judged against,
    ``None`` when it is only reported or could not be measured (``note`` says why).
    """

    figure: str
    result: str
    baseline: str
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "skipped" if self.result == "-" else "reported"
        return "yes" if self.met else "**no**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: Sequence[Row], info: Mapping[str, str], *, mode: str, elapsed: float) -> str:
    """The Markdown report: machine, table, then the notes of each row."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {now} by `python -m bench{' --quick' if mode == 'quick' else ''}` in {elapsed:.0f} s "
        f"on {info['cpus']} CPUs ({info['cpu']}), {info['python']}, {info['system']}; "
        f"load average at start {info['load']}; commit {info['commit']}.",
        "",
        "| figure | ours (median) | compared with, same run | target | met |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        cells = (row.figure, row.result, row.baseline, row.target, row.verdict)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    judged = [row for row in rows if row.met is not None]
    missed = [row.figure for row in judged if not row.met]
    unjudged = [row.figure for row in rows if row.met is None]
    summary = f"**{len(judged) - len(missed)} of {len(judged)} targets met**"
    summary += f"; missed: {'; '.join(missed)} (see the notes)." if missed else "."
    if unjudged:
        summary += f" Reported without a target or skipped: {'; '.join(unjudged)}."
    lines += ["", summary]
    notes = [(row.figure, n) for row in rows for n in row.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- *{figure}*: {text}" for figure, text in notes]
    return "\n".join(lines) + "\n"


def write_results(body: str, path: Path = RESULTS) -> Path:
    header = (
        "# Benchmark results\n\n"
        "Written by a full run of `python -m bench` (`make bench`); the method is in "
        "[docs/benchmarks.md](../docs/benchmarks.md). Ratios and differences compare two sides "
        "measured alternately in the same run; each figure is a median of several runs.\n\n"
    )
    path.write_text(header + body, encoding="utf-8")
    return path
