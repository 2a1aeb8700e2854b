"""``python -m scoring.server [serve]``: the runtime image's entry point."""

import sys

from scoring.server.main import main

sys.exit(main())
