"""``python -m ibscope.cli ...`` runs the ``ibscope`` command."""

import sys

from . import main

sys.exit(main())
