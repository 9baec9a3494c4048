"""``python -m w2t_bkin``: the same as the ``w2t-bkin`` command."""

import sys

from w2t_bkin.cli import main

sys.exit(main())
