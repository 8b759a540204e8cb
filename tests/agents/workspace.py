"""The project the agents work in: a test suite with one failure among 400 passes, a script that
prints a 120-pod JSON listing with one crashing pod, a JSON config file, a source file and notes.

Every fact the tests look for downstream is a constant here.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["make_workspace", "FAILURE_LINES", "CRASHING_POD", "REMINDER_SIGN", "PODS", "CONFIG_NAME"]

PODS = 120
CRASH_INDEX = 17  # early: an agent that keeps only the head of a long output still sends it
CRASHING_POD = f"checkout-{CRASH_INDEX:03d}"
CONFIG_NAME = "config.json"
# What pytest prints for the one failure; every line must reach the model.
FAILURE_LINES = (
    "FAILED test_suite.py::test_checkout_total - AssertionError: checkout total off by one",
    "assert 5 == 6",
)
REMINDER_SIGN = "<system-reminder>"

_TESTS = '''import pytest


@pytest.mark.parametrize("case", range(400))
def test_item(case):
    assert case >= 0


def test_checkout_total():
    cart = {"apple": 3, "pear": 2}
    assert sum(cart.values()) == 6, "checkout total off by one"
'''

_APP = '''"""A tiny service the agents search in."""


def checkout_total(cart):
    return sum(cart.values())


def handler(request):
    return {"total": checkout_total(request["cart"])}


def refund(order, amount):
    """Give back part of an order; never more than was paid."""
    if amount > order["paid"]:
        raise ValueError("refund exceeds payment")
    order["paid"] -= amount
    return order
'''


def _pod(index: int) -> dict:
    crashing = index == CRASH_INDEX
    return {"name": CRASHING_POD if crashing else f"web-{index:03d}", "namespace": "shop",
            "node": f"node-{index % 7}", "ip": f"10.1.0.{index}", "image": "shop/app:1.4.2",
            "status": "CrashLoopBackOff" if crashing else "Running", "ready": not crashing,
            "restarts": 14 if crashing else 0, "started": f"2026-12-01T10:{index % 60:02d}:00Z"}


_PODS_SCRIPT = '''import json
with open("pods_data.json") as data:
    pods = json.load(data)
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
'''

_CONFIG = {"service": "shop", "port": 8080, "replicas": 3, "features": {"checkout": True, "coupons": False},
           "database": {"host": "db.shop.svc", "port": 5432, "pool": {"min": 2, "max": 20}},
           "owners": ["team-payments", "team-web"], "timeouts": {"read_ms": 1500, "write_ms": 3000}}


def make_workspace(root: Path) -> Path:
    """Write the project under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "test_suite.py").write_text(_TESTS)
    (root / "pods_data.json").write_text(json.dumps([_pod(i) for i in range(PODS)]) + "\n")
    (root / "pods.py").write_text(_PODS_SCRIPT)
    (root / CONFIG_NAME).write_text(json.dumps(_CONFIG, indent=2) + "\n")
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text(_APP)
    (root / "notes.txt").write_text("status: draft\nowner: team-web\n")
    return root
