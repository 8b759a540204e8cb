"""Runs Headroom's ``compress()`` for ``bench_compression.py``, inside Headroom's own virtualenv.

Protocol (JSON lines). stdout line 1: ``{"ready": true, "version": ...}`` or ``{"fatal": ...}``.
stdin: one conversation a line, ``{"messages": [...], "ends": [n1, n2, ...]}``; for each end the
driver compresses ``messages[:end]`` on its own (a stateless library call, as each request
arrives) and writes ``{"messages": [...], "ms": float, "error": str}``. Only the standard library
is imported before Headroom, so this file never needs trimwire's environment.

    python _headroom_driver.py --mode default|agent
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time

MODEL = "gpt-4"  # Headroom counts gpt-4 with cl100k_base, the vocabulary trimwire counts with


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("default", "agent"), default="default")
    args = parser.parse_args()
    try:
        import headroom
        from headroom import compress
    except Exception as exc:  # report, don't traceback: the caller prints trimwire's figures anyway
        print(json.dumps({"fatal": f"import headroom: {type(exc).__name__}: {exc}"}), flush=True)
        return
    # ML text compression (Kompress) off: this benchmark compares the deterministic compressors.
    options = {"kompress_model": "disabled"}
    if args.mode == "agent":
        options["mode"] = "agent"

    def run(messages: list) -> tuple[list, float, str]:
        messages = copy.deepcopy(messages)  # prefixes share dicts; never let one call see another's
        started = time.perf_counter()
        try:
            out = compress(messages, model=MODEL, model_limit=200_000, **options).messages
            error = ""
        except Exception as exc:  # noqa: BLE001 - one failed request must not end the run
            out, error = messages, f"{type(exc).__name__}: {exc}"
        return out, (time.perf_counter() - started) * 1000, error

    run([{"role": "user", "content": "warm up " * 400}])  # pipeline set-up, not a request
    print(json.dumps({"ready": True, "version": getattr(headroom, "__version__", "?"),
                      "options": options, "model": MODEL}), flush=True)
    for line in sys.stdin:
        row = json.loads(line)
        for end in row["ends"]:
            out, ms, error = run(row["messages"][:end])
            sys.stdout.write(json.dumps({"messages": out, "ms": ms, "error": error},
                                        ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
