"""detect: the content type of a tool result, from a prefix sample and line rules."""

from __future__ import annotations

import pytest

from extproc.compressors.content_types import detect
from extproc.pipeline.router import ContentType

from . import load

PYTHON_SOURCE = '''"""Order refunds."""

from __future__ import annotations

import logging
from decimal import Decimal

log = logging.getLogger(__name__)


class RefundService:
    def __init__(self, gateway, repo):
        self.gateway = gateway
        self.repo = repo

    def refund(self, order_id: int, amount: Decimal) -> None:
        order = self.repo.get(order_id)
        if amount > order.captured:
            raise ValueError(f"refund {amount} exceeds captured {order.captured}")
        self.gateway.refund(order.charge_id, amount)
        log.info("refunded %s on order %s", amount, order_id)
'''

GO_SOURCE = '''package ledger

import (
\t"context"
\t"errors"
)

var ErrNotFound = errors.New("entry not found")

func (r *Repo) Find(ctx context.Context, id string) (*Entry, error) {
\trow := r.db.QueryRowContext(ctx, "SELECT id, cents FROM entries WHERE id = $1", id)
\tvar e Entry
\tif err := row.Scan(&e.ID, &e.Cents); err != nil {
\t\treturn nil, ErrNotFound
\t}
\treturn &e, nil
}
'''


class TestDetect:
    @pytest.mark.parametrize(("name", "expected"), [
        ("pytest_verbose.txt", ContentType.LOG),
        ("pip_install.txt", ContentType.LOG),
        ("npm_install.txt", ContentType.LOG),
        ("cargo_build.txt", ContentType.LOG),
        ("cargo_test_panic.txt", ContentType.LOG),
        ("maven_test.txt", ContentType.LOG),
        ("apt_uv_install.txt", ContentType.LOG),
        ("kubectl_pods.json", ContentType.JSON),
        ("github_issues.json", ContentType.JSON),
        ("grep_rn.txt", ContentType.SEARCH),
        ("grep_context.txt", ContentType.SEARCH),
        ("rg_heading.txt", ContentType.SEARCH),
        ("rg_vimgrep.txt", ContentType.SEARCH),
        ("git_diff.txt", ContentType.DIFF),
        ("git_diff_u8.txt", ContentType.DIFF),
        ("docs_page.html", ContentType.HTML),
    ])
    def test_fixtures(self, name, expected):
        """Each real-shaped tool output is recognised as what it is."""
        assert detect(load(name)) is expected

    def test_prefix_decides_json(self):
        """A document whose opening reads as JSON is JSON without parsing the rest."""
        text = '{"items": [' + ", ".join(f'{{"id": {i}}}' for i in range(5000)) + ", BROKEN"
        assert detect(text, sample_chars=1024) is ContentType.JSON

    def test_jsonl(self):
        """One JSON object per line is JSONL, not one JSON document."""
        text = "\n".join(f'{{"id": {i}, "path": "src/m{i}.py", "covered": {i * 7}}}' for i in range(6))
        assert detect(text) is ContentType.JSONL

    def test_one_line_json_is_a_document(self):
        """Compact JSON on one line, newline-terminated, is a JSON document."""
        assert detect('{"items": [{"id": 1}, {"id": 2}], "total": 2}\n') is ContentType.JSON

    def test_structured_logs(self):
        """JSON log records (pino, bunyan, structlog), alone or mixed with plain lines, are a log."""
        records = [f'{{"level":30,"time":17435779{i:05d},"pid":1,"msg":"request {i} completed"}}' for i in range(6)]
        assert detect("\n".join(records)) is ContentType.LOG
        mixed = [records[0], "Backend server is running on http://localhost:3004", *records[1:]]
        assert detect("\n".join(mixed)) is ContentType.LOG

    def test_html_after_a_preamble(self):
        """curl's progress meter before a page does not hide that it is a page."""
        text = ("  % Total    % Received % Xferd  Average Speed   Time\n100  2137    0  1712  100   425  16964\n"
                "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Upload</title></head><body><p>ok</p></body></html>\n")
        assert detect(text) is ContentType.HTML

    @pytest.mark.parametrize("text", [
        "[INFO] Scanning for projects...\n[INFO] Building shop-api 1.4.2\n[ERROR] Failed to execute goal compile\n",
        "[1/4] Resolving packages...\n[2/4] Fetching packages...\nerror An unexpected error occurred\n",
        "[2024-07-31 09:12:01] INFO worker started\n[2024-07-31 09:12:03] ERROR job 77 failed\n",
    ], ids=["maven", "yarn", "bracketed-timestamps"])
    def test_bracketed_logs_are_not_json(self, text):
        """Log lines that open with a bracket are logs, not JSON arrays."""
        assert detect(text) is ContentType.LOG

    def test_timestamped_app_log(self):
        """ISO timestamps with levels read as a log, not as path:line: search hits."""
        text = "\n".join([
            "2024-07-31T09:12:01.123Z INFO  server listening on :8080",
            "2024-07-31T09:12:02.456Z WARN  slow query took 1.2s",
            "2024-07-31T09:12:03.789Z ERROR upstream payments timed out after 30s",
        ])
        assert detect(text) is ContentType.LOG

    @pytest.mark.parametrize("text", [
        "src/main.c:12:5: error: 'count' undeclared\nsrc/main.c:19:1: warning: control reaches end\n",
        "shop/views.py:41: error: Incompatible return value type\nshop/models.py:8: note: see here\n",
        "shop/views.py:3:1: F401 'os' imported but unused\nshop/views.py:88:80: E501 line too long\n",
    ], ids=["gcc", "mypy", "flake8"])
    def test_compiler_and_linter_diagnostics_are_logs(self, text):
        """path:line: diagnostics from compilers and linters are logs, never search hits to cap."""
        assert detect(text) is ContentType.LOG

    def test_grep_hits_mentioning_error_are_search(self):
        """Hits whose text happens to contain error( are still search results."""
        text = "src/log.py:12:    error(\"x\")\nsrc/api.py:40:        raise error.Invalid()\n"
        assert detect(text) is ContentType.SEARCH

    def test_kubectl_table(self):
        """kubectl get pods' column-aligned listing under an upper-case header is a table."""
        text = ("NAME                            READY   STATUS             RESTARTS   AGE\n"
                "web-7d4b9c8f6d-abcde            1/1     Running            0          3d\n"
                "web-7d4b9c8f6d-fghij            1/1     Running            0          3d\n"
                "worker-5f6b7c9d8e-xyz12         0/1     CrashLoopBackOff   23         3d\n")
        assert detect(text) is ContentType.TABLE
        assert detect(load("kubectl_get_pods.txt")) is ContentType.TABLE

    def test_rows_off_the_columns_are_not_a_table(self):
        """An upper-case first line over rows that run across its column starts is not a table."""
        text = ("NOTE  ON  UPGRADES\n" + "the upgrade path from 1.2 to 1.4 needs a database migration first\n" * 4)
        assert detect(text) is not ContentType.TABLE
        short = "NAME   READY   STATUS\nweb-1  1/1     Running\n"
        assert detect(short) is not ContentType.TABLE

    @pytest.mark.parametrize("source", [PYTHON_SOURCE, GO_SOURCE], ids=["python", "go"])
    def test_source_files(self, source):
        """A source file is code."""
        assert detect(source) is ContentType.CODE

    def test_numbered_source(self):
        """Source behind Read-tool line numbers ("    12→") is still code."""
        numbered = "\n".join(f"{n:6d}→{line}" for n, line in enumerate(PYTHON_SOURCE.split("\n"), 1))
        assert detect(numbered) is ContentType.CODE

    def test_html_fragment_and_xml(self):
        """Tag-dense HTML without <html> is HTML; an XML document is not."""
        fragment = '<div class="x"><p>hi</p><ul><li>a</li><li>b</li></ul><a href="#">more</a></div>'
        assert detect(fragment) is ContentType.HTML
        assert detect('<?xml version="1.0"?>\n<project>\n  <modelVersion>4.0.0</modelVersion>\n</project>\n') \
            is not ContentType.HTML

    @pytest.mark.parametrize("text", ["", "   \n\n", "Done. The refund endpoint now returns 202.\n"])
    def test_prose_and_empty(self, text):
        """Empty text and a sentence are plain text."""
        assert detect(text) is ContentType.TEXT

    def test_diff_needs_a_hunk(self):
        """A line starting with --- is not a diff without a hunk header."""
        assert detect("--- release notes ---\nFixed the thing.\n") is ContentType.TEXT
