"""vmrestore: a restore console for VMware vSphere.

Layers, one direction only (enforced by import-linter, see pyproject.toml):
``ui | cli -> app -> engine -> vsphere | catalog | disks -> model | errors``.
"""

__version__ = "0.1.0"
