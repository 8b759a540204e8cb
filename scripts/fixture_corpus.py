"""Held-out conversations for issue 18's cases, in the shared corpus's row format, for
``bench_compression.py --corpus``: trimwire and Headroom side by side on what the shared corpus
lacks.

* asked-about listings: a PyPI JSON document (``releases`` keyed by version), an npm registry
  document (``versions`` and ``time``), ``kubectl get pods -o json`` and ``kubectl get pods``
  with 240 pods, each read after a question about one entry; the probes are that entry's fields;
* prose documents (``tests/unit/kompress/fixtures``): a man page, a ``--help``, a README, a
  reStructuredText guide, a changelog, a ``gh issue view`` thread and a fetched HTML page, each
  read after a question; the probes are flags, numbers and names in their prose.

    python scripts/fixture_corpus.py > /tmp/fixtures.jsonl
    python scripts/bench_compression.py --corpus /tmp/fixtures.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ROOT / "tests" / "unit" / "kompress" / "fixtures"


def conversation(name: str, kinds: list[str], question: str, command: str, output: str,
                 answers: list[str]) -> dict[str, Any]:
    body = {"model": "claude-sonnet-4", "max_tokens": 1024, "messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_{name}", "name": "Bash",
                                           "input": {"command": command}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{name}", "content": output}]},
    ]}
    return {"id": f"fixture-{name}", "format": "anthropic", "origin": "fixture", "content_types": kinds,
            "body": body, "probes": [{"q": f"answer {n}", "a": a} for n, a in enumerate(answers)]}


def pypi() -> dict[str, Any]:
    rnd = random.Random(18)
    versions = [f"{a}.{b}.{c}" for a in range(3) for b in range(12) for c in range(6)][:190]
    releases = {v: [{"comment_text": "", "digests": {"blake2b_256": "%064x" % rnd.getrandbits(256),
                                                     "md5": "%032x" % rnd.getrandbits(128),
                                                     "sha256": "%064x" % rnd.getrandbits(256)},
                     "downloads": -1, "filename": f"tidewater-{v}{suffix}", "has_sig": False,
                     "packagetype": kind, "python_version": "py3" if kind == "bdist_wheel" else "source",
                     "requires_python": ">=3.8", "size": rnd.randint(20_000, 90_000),
                     "upload_time_iso_8601": f"20{20 + n // 60}-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00.000000Z",
                     "url": f"https://files.pythonhosted.org/packages/{rnd.getrandbits(64):016x}/tidewater-{v}{suffix}",
                     "yanked": v == "1.7.2", "yanked_reason": "broken wheel" if v == "1.7.2" else None}
                    for suffix, kind in (("-py3-none-any.whl", "bdist_wheel"), (".tar.gz", "sdist"))]
                for n, v in enumerate(versions)}
    document = {"info": {"name": "tidewater", "version": versions[-1], "summary": "Ship logs with bounded memory",
                         "requires_dist": ["zstandard>=0.21"]}, "last_serial": 21873342,
                "releases": releases, "urls": releases[versions[-1]], "vulnerabilities": []}
    wanted = releases["1.4.3"][0]
    return conversation("pypi-json", ["rest_json"], "Which wheel did tidewater 1.4.3 ship, with what sha256?",
                        "curl -s https://pypi.org/pypi/tidewater/json", json.dumps(document, indent=2),
                        [wanted["digests"]["sha256"], wanted["filename"], "broken wheel"])


def npm() -> dict[str, Any]:
    rnd = random.Random(19)
    names = [f"{a}.{b}.{c}" for a in range(1, 4) for b in range(10) for c in range(8)][:220]
    versions = {v: {"name": "tidewater-js", "version": v, "dist": {"integrity": "sha512-%064x" % rnd.getrandbits(256),
                                                                   "tarball": f"https://registry.npmjs.org/tidewater-js/-/tidewater-js-{v}.tgz"},
                    "dependencies": {"zstd-codec": f"^0.{n % 5}.0"},
                    **({"deprecated": "use 2.3.1"} if v == "2.3.0" else {})}
                for n, v in enumerate(names)}
    times = {v: f"20{19 + n // 60}-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00.000Z" for n, v in enumerate(names)}
    document = {"name": "tidewater-js", "dist-tags": {"latest": names[-1]}, "versions": versions, "time": times}
    return conversation("npm-json", ["rest_json"], "When was tidewater-js 2.1.4 published, and its integrity?",
                        "npm view tidewater-js --json", json.dumps(document, indent=2),
                        [versions["2.1.4"]["dist"]["integrity"], times["2.1.4"], "use 2.3.1"])


def pods() -> tuple[dict[str, Any], dict[str, Any]]:
    rnd = random.Random(20)
    items = [{"metadata": {"name": f"web-{n:03d}-{rnd.getrandbits(20):05x}", "namespace": "shop"},
              "spec": {"nodeName": f"node-{n % 9}"},
              "status": {"phase": "Running", "podIP": f"10.1.{n // 200}.{n % 200}", "restartCount": 0}}
             for n in range(240)]
    wanted = items[173]
    name = wanted["metadata"]["name"]
    as_json = conversation("pods-json", ["kubernetes_json"], f"Which node and IP does {name} have?",
                           "kubectl get pods -n shop -o json | jq .items", json.dumps(items, indent=2),
                           [name, wanted["status"]["podIP"]])
    rows = [f"{p['metadata']['name']:<20} 1/1     Running   0          {f'{3 + n % 40}d':<6}{p['status']['podIP']:<13}"
            f"{p['spec']['nodeName']}" for n, p in enumerate(items)]
    table = "NAME                 READY   STATUS    RESTARTS   AGE   IP           NODE\n" + "\n".join(rows)
    as_table = conversation("pods-table", ["kubectl_text"], f"Is {name} healthy, and where does it run?",
                            "kubectl get pods -n shop -o wide", table, [rows[173]])
    return as_json, as_table


def documents() -> list[dict[str, Any]]:
    cases = [("man-page", "man_page.txt", "What does --replay do with rejected batches?", "man tidewater | cat",
              ["DIR/rejected", "--since", "2024-03-01T12:00:00Z", "65536"]),
             ("help", "help_output.txt", "How do I plan only recent lines?", "tidewater plan -help",
              ["-since=TIME", "-out=backlog.plan", "-parallelism=n"]),
             ("readme", "readme.md", "How does batching work?", "curl -sL https://raw.githubusercontent.com/example/tidewater/main/README.md",
              ["https://logs.example.com/ingest", "flush_interval", "Apache License 2.0"]),
             ("rst", "guide.rst", "How are multi-line records joined?", "curl -sL https://raw.githubusercontent.com/example/tidewater/main/docs/inputs.rst",
              ["record_start", "/var/log/app/**/*.log"]),
             ("changelog", "changelog.md", "What changed in 2.4.1?", "curl -sL https://raw.githubusercontent.com/example/tidewater/main/CHANGELOG.md",
              ["CVE-2023-48795", "2024-03-12", "--since"]),
             ("gh-issue", "gh_issue.txt", "Summarise issue 1874", "gh issue view 1874",
              ["fix-1874-sequence-header", "1881", "2.3.2"]),
             ("html", "article.html", "How does tidewater survive a collector outage?",
              "curl -s https://example.com/docs/shipping.html", ["/etc/tidewater/tidewater.toml"])]
    return [conversation(name, ["prose_doc"], question, command, (DOCUMENTS / file).read_text(encoding="utf-8"),
                         answers) for name, file, question, command, answers in cases]


def main() -> None:
    rows = [pypi(), npm(), *pods(), *documents()]
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
