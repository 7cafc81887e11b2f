"""The fake orchestration service: a thin HTTP layer over a pure, clock-driven engine."""

__version__ = "0.1.0"
