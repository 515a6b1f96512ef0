"""Suite-wide settings: Qt runs offscreen, and the bench fixtures are registered."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
