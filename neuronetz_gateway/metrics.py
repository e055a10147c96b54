"""Prometheus metrics, kept by hand: counters and histograms with labels, rendered as text 0.0.4.

Small on purpose (no client library in the zipapp): what SPEC §13 lists and nothing else. Label
values are tenant names, routes and status codes, never keys or prompts.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Labels, values: Labels, extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help: str, labels: Labels) -> None:
        self.name, self.help, self.labels = name, help, labels
        self.values: dict[Labels, float] = {}

    def inc(self, *values: str, amount: float = 1.0) -> None:
        self.values[values] = self.values.get(values, 0.0) + amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for values, count in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labels, values)} {count:g}"


class Histogram:
    """Observations in cumulative buckets per label set."""

    def __init__(
        self, name: str, help: str, labels: Labels, buckets: tuple[float, ...] = LATENCY_BUCKETS
    ) -> None:
        self.name, self.help, self.labels, self.buckets = name, help, labels, buckets
        self.values: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *values: str) -> None:
        counts, totals = self.values.setdefault(values, ([0] * (len(self.buckets) + 1), [0.0]))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        totals[0] += value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for values, (counts, totals) in sorted(self.values.items()):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                bucket = _labels(self.labels, values, 'le="' + le + '"')
                yield f"{self.name}_bucket{bucket} {running}"
            yield f"{self.name}_sum{_labels(self.labels, values)} {totals[0]:g}"
            yield f"{self.name}_count{_labels(self.labels, values)} {running}"


def gauge(name: str, help: str, samples: dict[Labels, float], labels: Labels = ()) -> Iterable[str]:
    """A gauge read at scrape time."""
    yield f"# HELP {name} {help}"
    yield f"# TYPE {name} gauge"
    for values, value in sorted(samples.items()):
        yield f"{name}{_labels(labels, values)} {value:g}"


class Metrics:
    """Everything the gateway counts."""

    def __init__(self) -> None:
        self.requests = Counter(
            "neuronetz_requests_total",
            "Requests by route, status and tenant.",
            ("route", "status", "tenant"),
        )
        self.tokens = Counter(
            "neuronetz_tokens_total", "Settled tokens by tenant and kind.", ("tenant", "kind")
        )
        self.refusals = Counter(
            "neuronetz_limiter_refusals_total", "429 refusals by code.", ("code",)
        )
        self.latency = Histogram(
            "neuronetz_request_duration_seconds", "Request latency.", ("route",)
        )
        self.ttfb = Histogram(
            "neuronetz_time_to_first_byte_seconds", "Time to first byte of streams.", ("route",)
        )
        self.streams_in_flight = 0

    def render(self, gauges: Iterable[Iterable[str]]) -> str:
        lines: list[str] = []
        for family in (self.requests, self.tokens, self.refusals, self.latency, self.ttfb):
            lines.extend(family.render())
        lines.extend(
            gauge(
                "neuronetz_streams_in_flight",
                "Streams being relayed now.",
                {(): float(self.streams_in_flight)},
            )
        )
        for extra in gauges:
            lines.extend(extra)
        return "\n".join(lines) + "\n"
