"""Request outcomes: one enum whose members are the exact strings headers, metrics and logs carry."""

from __future__ import annotations

import json
import pickle

from extproc.outcomes import SAVINGS_COUNTED, RequestOutcome


class TestRequestOutcome:
    def test_values_are_the_documented_names(self):
        """The values are the outcome names docs/metrics.md and docs/api.md list, plus the internal pending."""
        assert {outcome.value for outcome in RequestOutcome} == {
            "compressed", "unchanged", "bypassed", "passthrough", "failed_open", "pending"}

    def test_a_member_is_written_as_its_value(self):
        """str(), f-strings, JSON and encoding give the bare name, never ``RequestOutcome.X``."""
        outcome = RequestOutcome.FAILED_OPEN
        assert (str(outcome), f"{outcome}", json.dumps(outcome), outcome.encode()) == (
            "failed_open", "failed_open", '"failed_open"', b"failed_open")
        assert outcome == "failed_open" and {"failed_open": 1}[outcome] == 1

    def test_a_member_crosses_a_process_as_itself(self):
        """A worker's result, pickled back to the server, holds the very member."""
        assert pickle.loads(pickle.dumps(RequestOutcome.COMPRESSED)) is RequestOutcome.COMPRESSED

    def test_savings_are_counted_for_read_bodies_only(self):
        """Only compressed and unchanged bodies carry token counts worth reporting."""
        assert set(SAVINGS_COUNTED) == {RequestOutcome.COMPRESSED, RequestOutcome.UNCHANGED}
