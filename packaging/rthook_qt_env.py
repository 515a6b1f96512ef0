# Runtime hook of the console exe (vmrestore.exe), in place of PyInstaller's pyi_rth_pyside6: the same
# environment for Qt (plugin path; on Windows the bundle folder on PATH) without importing PySide6.QtCore at
# start-up, which costs ~0.4 s on every `vmrestore --version` or scripted command that never opens Qt.
# pyi_rth_pyside6's other step, an embedded qt.conf, is a no-op for PySide6 wheels (they embed their own).
import os
import sys

_base = os.path.join(sys._MEIPASS, "PySide6") if sys.platform.startswith("win") else os.path.join(
    sys._MEIPASS, "PySide6", "Qt"
)
os.environ["QT_PLUGIN_PATH"] = os.path.join(_base, "plugins")
if sys.platform.startswith("win"):
    os.environ["PATH"] = sys._MEIPASS + os.pathsep + os.environ.get("PATH", "")
del _base
