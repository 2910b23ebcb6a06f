"""``python -m raster_collect_plugin`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
