"""A compressor whose library fails to load is reported, never silently off."""

from __future__ import annotations

import json
import subprocess
import sys

from extproc.compressors import unavailable_compressors

# trafilatura made unimportable, as on a fresh virtualenv whose resolver left out lxml_html_clean.
_BROKEN = """
import json, sys
sys.modules["trafilatura"] = None
from extproc.compressors import unavailable_compressors
print(json.dumps([vars(missing) for missing in unavailable_compressors()]))
"""


class TestUnavailableCompressors:
    def test_nothing_is_missing_in_a_complete_install(self):
        """With the declared dependencies installed every structural compressor loads."""
        assert unavailable_compressors() == []

    def test_a_failed_import_is_reported(self):
        """The HTML compressor is listed, with the import error, when trafilatura cannot load."""
        run = subprocess.run([sys.executable, "-c", _BROKEN], capture_output=True, text=True, check=True)
        [missing] = json.loads(run.stdout)
        assert missing["compressor"] == "html" and missing["reason"] == "not_installed"
        assert "trafilatura" in missing["detail"]
