"""Warnings about settings that were given but mean nothing to trimwire: a typo must not pass
silently for the default (``mdoe: token`` in the file, ``TRIMWIRE_MDOE`` in the environment).

Called by the command line once Settings are loaded; each warning is one sentence on stderr.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import fields

from .config import ENV_PREFIX, KompressSettings, Settings

__all__ = ["config_warnings", "OTHER_ENV"]

# TRIMWIRE_* variables read outside Settings.
OTHER_ENV = ("TRIMWIRE_CONFIG", "TRIMWIRE_ENVOY_BIN")


def config_warnings(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """One sentence per file key or TRIMWIRE_* variable that names no setting."""
    names = [f.name for f in fields(Settings) if f.name != "extra"]
    warnings = [f"unknown setting {key!r} in the config file{_guess(str(key), names)}; ignored"
                for key in settings.extra]
    known_env = {ENV_PREFIX + name.upper() for name in names} | set(OTHER_ENV)
    kompress_prefix = ENV_PREFIX + "KOMPRESS_"
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known_env or name.startswith(kompress_prefix):
            continue
        candidates = sorted(known_env | {kompress_prefix + f.name.upper() for f in fields(KompressSettings)})
        warnings.append(f"unknown environment variable {name}{_guess(name, candidates)}; ignored")
    return warnings


def _guess(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
