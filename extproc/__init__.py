"""trimwire: an Envoy ext_proc service that compresses LLM request bodies in flight.

Where things are: a request enters at ``server.py`` -> ``processor.py`` (one ext_proc stream),
its body goes to ``compress.py`` (in worker processes, ``workers.py``), which parses it with
``formats/`` into the request model (``conversation.py``) and runs ``pipeline/`` over it with
the ``compressors/``. Settings: ``config.py``. Metrics: ``metrics.py``.
"""

from .compress import BodyEngine, BodyRequest, BodyResult, build_engine
from .config import Settings, load_settings
from .conversation import Block, Conversation, Kind
from .errors import BodyTooLarge, ConfigError, PassThrough, TrimwireError, UnsupportedBody
from .outcomes import RequestOutcome
from .pipeline import Compressor, Pipeline, Policy

__all__ = [
    "Block", "BodyEngine", "BodyRequest", "BodyResult", "BodyTooLarge", "Compressor",
    "ConfigError", "Conversation", "Kind", "PassThrough", "Pipeline", "Policy", "RequestOutcome",
    "Settings", "TrimwireError", "UnsupportedBody", "build_engine", "load_settings",
]

__version__ = "0.1.0"
