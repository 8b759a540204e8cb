"""Metric label hygiene and the exposition trimwire serves, checked against expected names."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from extproc.compressors.kompress import KompressStatus
from extproc.metrics import OVERFLOW_LABEL, UNKNOWN_LABEL, LabelGuard, Metrics, sanitise

# family -> (type, label names). Histograms also carry "le" on their buckets.
EXPECTED_FAMILIES = {
    "trimwire_requests": ("counter", {"format", "outcome"}),
    "trimwire_passthrough": ("counter", {"reason"}),
    "trimwire_failed_open": ("counter", {"reason"}),
    "trimwire_tokens_before": ("counter", {"model", "user"}),
    "trimwire_tokens_after": ("counter", {"model", "user"}),
    "trimwire_tokens_saved": ("counter", {"model", "user"}),
    "trimwire_body_bytes": ("counter", {"direction"}),
    "trimwire_stage_seconds": ("histogram", {"stage"}),
    "trimwire_request_seconds": ("histogram", {"format"}),
    "trimwire_inflight_streams": ("gauge", set()),
    "trimwire_ambiguous_user": ("counter", set()),
    "trimwire_stream_errors": ("counter", {"kind"}),
    "trimwire_compression_workers": ("gauge", set()),
    "trimwire_ready": ("gauge", set()),
    "trimwire_block_cache": ("counter", {"result"}),
    "trimwire_api_calls": ("counter", {"api", "status"}),
    "trimwire_api_config_ignored": ("counter", {"key"}),
    "trimwire_kompress_model": ("gauge", {"model", "provider"}),
    "trimwire_kompress_unavailable": ("gauge", {"reason"}),
    "trimwire_kompress_blocks": ("counter", {"result"}),
    "trimwire_kompress_chunks": ("counter", set()),
    "trimwire_compressor_unavailable": ("gauge", {"compressor", "reason"}),
    "trimwire_error_guard_rejected": ("counter", set()),
    "trimwire_dedup_tokens": ("counter", {"kind"}),
    "trimwire_tracing_enabled": ("gauge", set()),
    "trimwire_tracing_unavailable": ("gauge", {"reason"}),
}
EXPECTED_SAMPLES = {
    "trimwire_requests_total", "trimwire_passthrough_total", "trimwire_failed_open_total",
    "trimwire_tokens_before_total", "trimwire_tokens_after_total", "trimwire_tokens_saved_total",
    "trimwire_body_bytes_total", "trimwire_stream_errors_total", "trimwire_api_calls_total",
    "trimwire_api_config_ignored_total", "trimwire_block_cache_total",
    "trimwire_stage_seconds_bucket", "trimwire_stage_seconds_sum", "trimwire_stage_seconds_count",
    "trimwire_request_seconds_bucket", "trimwire_request_seconds_sum", "trimwire_request_seconds_count",
    "trimwire_inflight_streams", "trimwire_compression_workers", "trimwire_ready", "trimwire_ambiguous_user_total",
    "trimwire_kompress_model", "trimwire_kompress_unavailable", "trimwire_kompress_blocks_total",
    "trimwire_kompress_chunks_total", "trimwire_compressor_unavailable", "trimwire_error_guard_rejected_total",
    "trimwire_dedup_tokens_total",
    "trimwire_tracing_enabled", "trimwire_tracing_unavailable",
}


def exercised() -> Metrics:
    """A Metrics with one sample in every labelled series, as after one compressed request."""
    metrics = Metrics()
    metrics.requests.labels(format="openai", outcome="compressed").inc()
    metrics.passthrough.labels(reason="too_large").inc()
    metrics.failed_open.labels(reason="timeout").inc()
    for counter, value in ((metrics.tokens_before, 900), (metrics.tokens_after, 600), (metrics.tokens_saved, 300)):
        counter.labels(model="gpt-4o", user="alice").inc(value)
    metrics.body_bytes.labels(direction="before").inc(4000)
    metrics.stage_seconds.labels(stage="json_compact").observe(0.002)
    metrics.request_seconds.labels(format="openai").observe(0.004)
    metrics.stream_errors.labels(kind="cancelled").inc()
    metrics.api_calls.labels(api="http", status="200").inc()
    metrics.block_cache.labels(result="hit").inc()
    metrics.api_config_ignored.labels(key="target_ratio").inc()
    metrics.kompress_status(KompressStatus(True, model="embedded", provider="CPUExecutionProvider"))
    metrics.kompress_status(KompressStatus(False, reason="missing"))
    metrics.count_events({"kompress_compressed": 2, "kompress_deadline": 1, "kompress_chunks": 5, "guard_rejected": 1,
                          "dedup_saved_tokens": 40, "dedup_protected_tokens": 7, "dedup_runs": 1})
    metrics.compressor_unavailable.labels(compressor="html", reason="not_installed").set(1)
    metrics.inflight.inc()
    metrics.workers.set(2)
    metrics.ready.set(1)
    metrics.tracing_enabled.set(0)
    metrics.tracing_unavailable.labels(reason="not_installed").set(1)
    return metrics


class TestSanitise:
    @pytest.mark.parametrize(("value", "expected"), [
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("alice@example.com", "alice@example.com"),
        ("org/team:model+v1.2", "org/team:model+v1.2"),
        ("  padded  ", "padded"),
        ("bob smith", "bob_smith"),
        ('x"} 1\n# evil', "x___1___evil"),
        ("日本", "__"),
    ])
    def test_unsafe_characters_become_underscores(self, value, expected):
        """Only a small safe charset survives; surrounding whitespace is stripped."""
        assert sanitise(value) == expected

    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_empty_is_unknown(self, value):
        """A missing or blank value gets the unknown label, never an empty one."""
        assert sanitise(value) == UNKNOWN_LABEL

    def test_length_is_bounded(self):
        """Long values are cut to 64 characters."""
        assert sanitise("a" * 500) == "a" * 64


class TestLabelGuard:
    def test_raw_mode_passes_sanitised_values(self):
        """Raw mode shows the sanitised value in logs and labels alike."""
        guard = LabelGuard("raw", limit=10)
        assert guard.display("bob smith") == guard.label("bob smith") == "bob_smith"

    def test_raw_mode_overflows_at_the_limit(self):
        """After limit distinct values new ones share the overflow label; known ones keep theirs."""
        guard = LabelGuard("raw", limit=3)
        assert [guard.label(v) for v in ("a", "b", "a", "c")] == ["a", "b", "a", "c"]
        assert guard.label("d") == OVERFLOW_LABEL and guard.label("e") == OVERFLOW_LABEL
        assert guard.label("b") == "b"
        assert guard.display("d") == "d"

    def test_unknown_counts_against_the_limit(self):
        """The unknown label is one of the limited values, like any other."""
        guard = LabelGuard("raw", limit=1)
        assert guard.label(None) == UNKNOWN_LABEL
        assert guard.label("alice") == OVERFLOW_LABEL

    def test_hash_mode_hides_the_value(self):
        """Hash mode gives a stable 16-hex digest that does not contain the value."""
        guard = LabelGuard("hash", limit=10)
        label = guard.label("alice@example.com")
        assert len(label) == 16 and all(c in "0123456789abcdef" for c in label)
        assert "alice" not in label and label == guard.display("alice@example.com")
        assert guard.label("bob@example.com") != label

    def test_hash_mode_keeps_unknown_readable(self):
        """A missing user is still shown as unknown, not as the hash of a placeholder."""
        assert LabelGuard("hash").label(None) == UNKNOWN_LABEL

    def test_hash_mode_overflows_too(self):
        """Hashed values are bounded in number like raw ones."""
        guard = LabelGuard("hash", limit=1)
        guard.label("alice")
        assert guard.label("bob") == OVERFLOW_LABEL

    def test_drop_mode_drops(self):
        """Drop mode gives an empty value everywhere and never overflows."""
        guard = LabelGuard("drop", limit=1)
        assert [guard.label(v) for v in ("alice", "bob", None)] == ["", "", ""]
        assert guard.display("alice") == ""

    def test_limit_holds_under_threads(self):
        """Concurrent first sightings never admit more than limit distinct values."""
        guard = LabelGuard("raw", limit=50)
        labels: list[str] = []

        def worker(offset: int) -> None:
            labels.extend(guard.label(f"user{offset + i}") for i in range(100))

        threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(labels) - {OVERFLOW_LABEL}) == 50


class TestMetrics:
    def test_exposition_families_and_labels(self):
        """Every metric is exposed under its expected name, type and label names, and nothing else."""
        text = generate_latest(exercised().registry).decode()
        families = {}
        for family in text_string_to_metric_families(text):
            if family.name.endswith("_created"):  # optional timestamps, on unless disabled by env
                continue
            labels = set().union(*(set(s.labels) for s in family.samples)) - {"le"}
            families[family.name] = (family.type, labels)
        assert families == EXPECTED_FAMILIES

    def test_exposition_sample_names(self):
        """The sample names scrapers and dashboards use are exactly these."""
        text = generate_latest(exercised().registry).decode()
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        assert {n for n in names if not n.endswith("_created")} == EXPECTED_SAMPLES

    def test_values_reach_the_exposition(self):
        """A counted request shows up with its labels and value."""
        text = generate_latest(exercised().registry).decode()
        assert 'trimwire_requests_total{format="openai",outcome="compressed"} 1.0' in text
        assert 'trimwire_tokens_saved_total{model="gpt-4o",user="alice"} 300.0' in text

    def test_each_instance_has_its_own_registry(self):
        """Two servers in one process do not share or clash over metrics."""
        first, second = Metrics(), Metrics(CollectorRegistry())
        first.ready.set(1)
        assert "trimwire_ready 0.0" in generate_latest(second.registry).decode()
        assert "trimwire_ready 1.0" in generate_latest(first.registry).decode()


class TestRememberedChildren:
    """``labels`` answers from a memo (the accounting of a request asks for about twenty children)."""

    def test_the_same_child_each_time_and_the_counts_exported(self):
        metrics = Metrics()
        first = metrics.requests.labels("openai", "compressed")
        assert metrics.requests.labels("openai", "compressed") is first
        first.inc()
        metrics.requests.labels("openai", "compressed").inc(2)
        metrics.requests.labels(format="openai", outcome="compressed").inc()
        assert metrics.registry.get_sample_value(
            "trimwire_requests_total", {"format": "openai", "outcome": "compressed"}) == 4

    def test_a_removed_child_is_not_answered_again(self):
        metrics = Metrics()
        metrics.passthrough.labels("method").inc(5)
        metrics.passthrough.remove("method")
        metrics.passthrough.labels("method").inc()
        assert metrics.registry.get_sample_value("trimwire_passthrough_total", {"reason": "method"}) == 1
        metrics.passthrough.clear()
        metrics.passthrough.labels("method").inc()
        assert metrics.registry.get_sample_value("trimwire_passthrough_total", {"reason": "method"}) == 1
