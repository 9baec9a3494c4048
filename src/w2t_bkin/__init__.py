"""w2t-bkin: raw behavioural-neuroscience sessions to synchronized, validated NWB files.

The package has no side effects at import: no logging set-up, no I/O.
"""

from w2t_bkin._version import __version__
from w2t_bkin.errors import W2TError

__all__ = ["W2TError", "__version__"]
