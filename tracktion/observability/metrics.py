"""A small Prometheus registry (text format 0.0.4), dependency-free and cheap on the hot path: counters and
histograms are plain dicts updated on the event loop thread (the writer's figures are read at scrape time).
Labels never carry ids or identifiers, only route templates, methods, statuses, kinds and reasons."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)

Labels = tuple[tuple[str, str], ...]


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self.series: dict[Labels, list[float]] = {}  # bucket counts..., +Inf count, sum

    def observe(self, value: float, labels: Labels = ()) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        series[bisect.bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, series in sorted(self.series.items()):
            cumulative = 0.0
            for bound, count in zip((*self.buckets, float("inf")), series[:-1], strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else _number(bound)
                yield f"{self.name}_bucket{_labels((*labels, ('le', le)))} {_number(cumulative)}"
            yield f"{self.name}_sum{_labels(labels)} {_number(series[-1])}"
            yield f"{self.name}_count{_labels(labels)} {_number(cumulative)}"


class Gauge:
    """Read at scrape time from a callable: the writer's queue depth, open connections."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help_text, read

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {_number(self.read())}"


class GaugeFamily:
    """Gauges with labels, set by their owner (the relay's lag per destination); a series is dropped with
    `remove` when what it measures is gone."""

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[Labels, float] = {}

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def remove(self, labels: Labels) -> None:
        self.values.pop(labels, None)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Metrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "tracktion_http_requests_total", "HTTP requests by route template, method, status"
        )
        self.duration = Histogram("tracktion_http_request_duration_seconds", "HTTP request latency by route")
        self.stored = Counter("tracktion_events_stored_total", "Events inserted, by kind")
        self.overwritten = Counter("tracktion_events_overwritten_total", "Salted events replaced in place")
        self.quarantined = Counter("tracktion_quarantined_total", "Quarantine records written, by reason")
        self.evicted = Counter("tracktion_quarantine_evicted_total", "Quarantine records evicted by the cap")
        self.profiles = Counter("tracktion_profiles_created_total", "Profiles created")
        self.suppressed = Counter(
            "tracktion_suppressed_total", "Writes dropped for naming a suppressed identifier (§15.1)"
        )
        self.commit_duration = Histogram("tracktion_commit_duration_seconds", "Duration of one group commit")
        self.commit_size = Histogram("tracktion_commit_batch_size", "Requests per group commit", SIZE_BUCKETS)
        # The relay (docs/api.md §14.3), labelled by destination id (an opaque id, no identifier).
        self.relay_delivered = Counter("tracktion_relay_delivered_total", "Events a destination acknowledged")
        self.relay_failed = Counter("tracktion_relay_failed_total", "Events recorded as failures")
        self.relay_attempts = Counter("tracktion_relay_attempts_total", "Delivery attempts by outcome")
        self.relay_lag_events = GaugeFamily(
            "tracktion_relay_lag_events", "Writes after a destination's cursor"
        )
        self.relay_lag_seconds = GaugeFamily(
            "tracktion_relay_lag_seconds", "Age of the oldest write after a destination's cursor"
        )
        self.gauges: list[Gauge] = []

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges.append(Gauge(name, help_text, read))

    def render(self) -> bytes:
        lines: list[str] = []
        series: list[Counter | Histogram | Gauge | GaugeFamily] = [
            self.requests,
            self.duration,
            self.stored,
            self.overwritten,
            self.quarantined,
            self.evicted,
            self.profiles,
            self.suppressed,
            self.commit_duration,
            self.commit_size,
            self.relay_delivered,
            self.relay_failed,
            self.relay_attempts,
            self.relay_lag_events,
            self.relay_lag_seconds,
            *self.gauges,
        ]
        for metric in series:
            lines.extend(metric.render())
        return ("\n".join(lines) + "\n").encode()


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
