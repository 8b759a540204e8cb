"""JsonSampler: uniform arrays as tables, long arrays sampled, always valid JSON."""

from __future__ import annotations

import json
import re

import pytest

from extproc.compressors.json_lossy import COLUMNS_KEY, DEFAULT_MAX_ITEMS, EVERY_ROW_KEY, ROWS_KEY, JsonSampler

from . import block, load

OMITTED = re.compile(r"^\[trimwire: (\d+) items? omitted \((.+)\)\]$")


def rows_as_objects(table: dict) -> list:
    """A table back as a list: objects for rows (with the values every row shares), marker strings as they are."""
    columns = table[COLUMNS_KEY]
    shared = table.get(EVERY_ROW_KEY, {})
    return [row if isinstance(row, str) else {**shared, **dict(zip(columns, row))} for row in table[ROWS_KEY]]


def omitted_count(items: list) -> int:
    return sum(int(OMITTED.match(item).group(1)) for item in items if isinstance(item, str) and OMITTED.match(item))


def service_checks(count: int, **overrides: dict) -> str:
    """A health-check list: ``count`` uniform objects, some replaced by ``overrides[index]``."""
    items = []
    for i in range(count):
        item = {"id": f"chk-{i:04d}", "service": f"svc-{i % 7}", "status": "ok", "latency_ms": 40 + i % 9,
                "error": None, "region": "eu-west-1"}
        item.update(overrides.get(str(i), {}))
        items.append(item)
    return json.dumps({"checks": items, "total": count}, indent=2)


def tables_only() -> JsonSampler:
    """The sampler with nothing to sample (no array or map is long enough): its tables alone."""
    return JsonSampler(max_items=1 << 30, min_map_keys=1 << 30)


class TestTables:
    def test_uniform_objects_become_a_table(self):
        """The GitHub issues page becomes one table whose rows hold every original value."""
        text = load("github_issues.json")
        out = tables_only().compress(text)
        value = json.loads(out)
        original = json.loads(text)
        assert value[COLUMNS_KEY] == [key for key in original[0] if key not in value.get(EVERY_ROW_KEY, {})]
        assert rows_as_objects(value) == original
        assert len(out) < 0.65 * len(text)

    def test_nested_arrays_become_tables(self):
        """A uniform array under a key is tabulated in place; the rest of the document is untouched."""
        out = json.loads(tables_only().compress(service_checks(60)))
        assert out["total"] == 60
        assert out["checks"][COLUMNS_KEY] == ["id", "service", "latency_ms"]
        assert out["checks"][ROWS_KEY][3] == ["chk-0003", "svc-3", 43]
        assert out["checks"][EVERY_ROW_KEY] == {"status": "ok", "error": None, "region": "eu-west-1"}

    def test_columns_every_row_shares_are_said_once(self):
        """A column with one value in every row goes out once, beside the table, and the rows read
        back whole; values that only look alike (1, 1.0, true, "1") are not shared."""
        items = [{"name": f"pod-{i}", "kind": "Pod", "ready": 1, "weight": 1.0 if i else 1, "flag": True if i else 1,
                  "spec": {"image": "api:2.1", "ports": [8080]}} for i in range(40)]
        out = json.loads(tables_only().compress(json.dumps(items, indent=2)))
        assert out[EVERY_ROW_KEY] == {"kind": "Pod", "ready": 1, "spec": {"image": "api:2.1", "ports": [8080]}}
        assert out[COLUMNS_KEY] == ["name", "weight", "flag"]
        assert rows_as_objects(out) == items and out[ROWS_KEY][0] == ["pod-0", 1, 1]

    def test_a_table_keeps_one_column_at_least(self):
        """Rows that are all the same stay a table of their columns: nothing is said once."""
        items = [{"kind": "Pod", "phase": "Running"}] * 300
        out = json.loads(tables_only().compress(json.dumps(items, indent=2)))
        assert EVERY_ROW_KEY not in out and out[COLUMNS_KEY] == ["kind", "phase"]

    def test_numbers_keep_their_spelling(self):
        """1.10, 1E+2, -0 and a 30-digit integer come out exactly as written."""
        items = [{"sku": f"A-{i}", "price": "@PRICE@", "big": 123456789012345678901234567890} for i in range(120)]
        text = json.dumps(items, indent=2).replace('"@PRICE@"', "1.10", 1).replace('"@PRICE@"', "1E+2", 1)
        text = text.replace('"@PRICE@"', "-0")
        out = tables_only().compress(text)
        assert '["A-0",1.10]' in out and '["A-1",1E+2]' in out and '["A-2",-0]' in out
        assert "123456789012345678901234567890" in out

    def test_strings_keep_their_value(self):
        """Escapes, quotes, newlines and non-ASCII text decode to the same strings."""
        items = [{"path": f"C:\\repo\\f{i}.py", "msg": 'said "hi"\n\tcafé ✓ 😀'} for i in range(80)]
        text = json.dumps(items, indent=2)
        assert rows_as_objects(json.loads(tables_only().compress(text))) == items

    def test_lone_surrogates_stay_escaped(self):
        """A lone \\ud800 escape stays an escape, so the output still encodes as UTF-8."""
        items = [{"id": i, "raw": "bad \ud800 byte"} for i in range(200)]
        out = tables_only().compress(json.dumps(items, indent=2))
        out.encode("utf-8")
        assert rows_as_objects(json.loads(out)) == items

    def test_mixed_objects_stay_objects(self):
        """An array whose objects do not share one key set is not tabulated."""
        items = [{"id": i, "name": f"n{i}"} if i % 2 else {"id": i, "kind": "x"} for i in range(200)]
        out = tables_only().compress(json.dumps(items, indent=2))
        assert json.loads(out) == items

    @pytest.mark.parametrize("text", ['{"a": 1}', json.dumps([{"a": i, "b": i} for i in range(50)])],
                             ids=["tiny", "under-threshold"])
    def test_short_input_is_left_alone(self, text):
        """JSON under the size threshold is left to the lossless compactor."""
        assert len(text) < 4096
        assert tables_only().compress(text) is None
        assert not tables_only().applies(block(text))

    def test_invalid_json_is_left_alone(self):
        """A truncated document is never rewritten."""
        text = load("github_issues.json")[:-200]
        assert tables_only().compress(text) is None

    def test_deterministic(self):
        """The same text gives the same bytes every time."""
        text = load("kubectl_pods.json")
        assert tables_only().compress(text) == tables_only().compress(text)


class TestJsonSampler:
    def test_kubectl_keeps_failing_pods(self):
        """CrashLoopBackOff and Pending pods survive sampling with every key, next to head and tail."""
        text = load("kubectl_pods.json")
        original = json.loads(text)["items"]
        out = json.loads(JsonSampler().compress(text))
        items = rows_as_objects(out["items"])
        kept = [item for item in items if isinstance(item, dict)]
        names = [item["metadata"]["name"] for item in kept]
        assert [original.index(item) for item in kept] == [0, 1, 2, 3, 4, 20, 35, 41, 45, 46, 47]
        reasons = [s["state"].get("waiting", {}).get("reason") for item in kept for s in item["status"]["containerStatuses"]]
        assert reasons.count("CrashLoopBackOff") == 2 and "ContainerCreating" in reasons
        assert len(names) + omitted_count(items) == len(original)
        assert out["kind"] == "List" and out["apiVersion"] == "v1"

    def test_marker_says_what_was_omitted(self):
        """Each run of dropped items is one marker naming the count and the shape."""
        out = json.loads(JsonSampler().compress(load("kubectl_pods.json")))
        markers = [row for row in out["items"][ROWS_KEY] if isinstance(row, str)]
        assert markers[0] == "[trimwire: 15 items omitted (15 objects with keys apiVersion, kind, metadata, spec, status)]"
        assert [int(OMITTED.match(m).group(1)) for m in markers] == [15, 14, 5, 3]

    def test_github_hot_issue_is_kept(self):
        """The issue with far more comments than the rest is kept as an outlier."""
        text = load("github_issues.json")
        out = json.loads(JsonSampler().compress(text))
        kept = [row for row in rows_as_objects(out) if isinstance(row, dict)]
        assert any(item["comments"] == 212 and item["number"] == 1436 for item in kept)
        assert len(kept) + omitted_count(rows_as_objects(out)) == 60
        assert all(item == json.loads(text)[1480 - item["number"]] for item in kept)

    @pytest.mark.parametrize(("overrides", "index"), [
        ({"137": {"status": "error", "error": "connection refused"}}, 137),
        ({"88": {"error": "TLS handshake timeout"}}, 88),
        ({"201": {"latency_ms": None}}, 201),
        ({"55": {"latency_ms": 30000}}, 55),
        ({"160": {"status": "degraded"}}, 160),
    ], ids=["error-status", "error-where-others-null", "null-where-others-set", "numeric-outlier", "bad-status"])
    def test_anomalies_are_kept(self, overrides, index):
        """Items with an error status, an odd null or value, or an outlier number survive sampling."""
        text = service_checks(300, **overrides)
        checks = rows_as_objects(json.loads(JsonSampler().compress(text))["checks"])
        kept_ids = [item["id"] for item in checks if isinstance(item, dict)]
        assert f"chk-{index:04d}" in kept_ids
        assert len(kept_ids) + omitted_count(checks) == 300

    def test_each_shape_is_kept_once(self):
        """The first item with an extra key is kept even when nothing else flags it."""
        text = service_checks(300, **{"150": {"retry_after": 30}})
        checks = json.loads(JsonSampler().compress(text))["checks"]
        kept = [item for item in checks if isinstance(item, dict)]
        assert [item["id"] for item in kept if "retry_after" in item] == ["chk-0150"]
        markers = [item for item in checks if isinstance(item, str)]
        assert markers and all("and 1 more" not in marker for marker in markers)

    def test_scalar_arrays_are_sampled(self):
        """A long list of numbers keeps its ends and outliers; the marker counts numbers."""
        values = [100 + (i % 5) for i in range(2000)]
        values[777] = 99999
        out = json.loads(JsonSampler().compress(json.dumps({"samples": values}, indent=1)))
        samples = out["samples"]
        assert samples[:5] == values[:5] and samples[-3:] == values[-3:] and 99999 in samples
        assert OMITTED.match(samples[5]).group(2).endswith("numbers")
        assert sum(1 for s in samples if not isinstance(s, str)) + omitted_count(samples) == 2000

    def test_without_tables(self):
        """tables=False keeps kept items as objects with marker strings between them."""
        out = json.loads(JsonSampler(tables=False).compress(service_checks(100)))
        assert isinstance(out["checks"], list) and isinstance(out["checks"][0], dict)
        assert isinstance(out["checks"][5], str) and OMITTED.match(out["checks"][5])

    def test_short_arrays_are_only_tabulated(self):
        """Arrays at or under max_items lose nothing."""
        text = service_checks(DEFAULT_MAX_ITEMS)
        checks = rows_as_objects(json.loads(JsonSampler(min_chars=0).compress(text))["checks"])
        assert checks == json.loads(text)["checks"]

    def test_small_input_is_left_alone(self):
        """JSON under the size threshold is not touched."""
        assert JsonSampler().compress('{"checks": []}') is None

    def test_deterministic(self):
        """The same text gives the same bytes every time."""
        text = load("github_issues.json")
        assert JsonSampler().compress(text) == JsonSampler().compress(text)

    def test_settings_are_checked(self):
        """Head and tail that exceed max_items are refused."""
        with pytest.raises(ValueError):
            JsonSampler(max_items=5, head_items=4, tail_items=4)


class TestJsonStreamSampling:
    def test_each_document_of_a_stream_is_sampled(self):
        """Two large documents one after another are each sampled and written one a line."""
        text = service_checks(100) + "\n" + service_checks(60)
        out = JsonSampler().compress(text)
        first, second = (json.loads(line) for line in out.split("\n"))
        for document in (first, second):
            assert any(isinstance(row, str) and OMITTED.match(row) for row in document["checks"][ROWS_KEY])


def _pods(count: int, crash: int) -> list[dict]:
    return [{"name": f"web-{i:03d}", "node": f"node-{i % 7}", "status": "CrashLoopBackOff" if i == crash else "Running",
             "restarts": 14 if i == crash else 0} for i in range(count)]


def _cut(text: str, keep_head: int, keep_tail: int, marker: str) -> str:
    return text[:keep_head] + marker + text[len(text) - keep_tail:]


class TestCutListings:
    """A listing the agent cut with its own marker is sampled over what is left of it."""

    def test_codex_cut_listing(self):
        """Codex's real cut pod listing: head, tail and the crashing pod kept, Codex's marker as written."""
        inner = load("codex_pods_cut.txt").split("Total output lines: 1\n\n", 1)[1]
        out = JsonSampler().compress(inner)
        assert out is not None and len(out) < 0.25 * len(inner)
        assert "…13114 chars truncated…" in out and '"name":"checkout-017"' in out
        assert out.startswith('{"apiVersion": "v1", "kind": "List", "items": [{"name":"web-000"')
        assert out.endswith('"started":"2026-12-01T10:59:00Z"}]}\n') and "[trimwire: 12 items omitted" in out

    def test_claude_code_middle_cut_of_an_indented_listing(self):
        """Claude Code's ``... [N characters truncated] ...`` through an indented listing."""
        text = json.dumps({"kind": "List", "items": _pods(200, crash=30)}, indent=2)
        marker = "\n\n... [20000 characters truncated] ...\n\n"
        cut = _cut(text, 6000, 5000, marker)
        out = JsonSampler().compress(cut)
        assert out is not None and marker in out and len(out) < 0.3 * len(cut)
        assert '"name":"web-030","node":"node-2","status":"CrashLoopBackOff","restarts":14' in out
        assert out.endswith('"name":"web-199","node":"node-3","status":"Running","restarts":0}]\n}')

    def test_head_only_cut(self):
        """Only the start kept (``... [N lines truncated] ...`` at the end): the head is sampled."""
        text = json.dumps(_pods(300, crash=40), indent=1)
        cut = text[:9000] + "\n\n... [2400 lines truncated] ..."
        out = JsonSampler().compress(cut)
        assert out is not None and out.endswith("\n\n... [2400 lines truncated] ...") and '"name":"web-040"' in out

    def test_what_is_not_a_cut_listing(self):
        """Too few items, no array, or two markers: left alone."""
        short = _cut(json.dumps({"items": _pods(30, crash=3)}, indent=2), 1500, 1500, "…900 tokens truncated…")
        mapping = json.dumps({f"key{i}": i * 1000 for i in range(600)})
        flat = mapping[:mapping.index(', "key200"')] + "…900 tokens truncated…" + mapping[mapping.index(', "key400"'):]
        twice = _cut(json.dumps(_pods(300, crash=3)), 9000, 9000, "…9 tokens truncated…x…9 tokens truncated…")
        for text in (short, flat, twice):
            assert JsonSampler().compress(text) is None
