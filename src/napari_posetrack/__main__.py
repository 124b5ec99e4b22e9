"""``python -m napari_posetrack`` runs the ``posetrack`` command."""

import sys

from .cli import main

sys.exit(main())
