"""`python -m player` is `cadence`."""

from __future__ import annotations

import sys

from player.cli import main

sys.exit(main())
