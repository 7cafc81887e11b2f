"""Printing benchmark figures: value, baseline, ratio, target and whether it was met."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    """One measured figure and the baseline it is compared with."""

    name: str
    value: float
    unit: str
    baseline: float
    baseline_name: str
    target: str = ""
    met: bool | None = None
    skipped: str = ""

    @property
    def ratio(self) -> float:
        """value / baseline."""
        return self.value / self.baseline if self.baseline else float("inf")

    @classmethod
    def skip(cls, name: str, baseline_name: str, reason: str) -> Figure:
        """A figure that could not be measured in this run, and why."""
        return cls(name, 0.0, "", 0.0, baseline_name, skipped=reason)

    def line(self) -> str:
        """A table row."""
        if self.skipped:
            return f"{self.name:48} {'skipped':>12} {'':8} | {self.baseline_name:34} | {self.skipped}"
        verdict = "" if self.met is None else ("met" if self.met else "MISSED")
        return (f"{self.name:48} {self.value:>12,.3f} {self.unit:8} | {self.baseline_name:34} {self.baseline:>12,.3f}"
                f" | ratio {self.ratio:>7.3f} | {self.target:>14} {verdict}")


def print_figures(title: str, figures: list[Figure]) -> None:
    """Print a section of figures."""
    print(f"\n== {title}")
    for figure in figures:
        print(figure.line(), flush=True)
