"""GUI tests run in a real X window (pytest-xvfb starts Xvfb); never the offscreen platform."""
import os

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ.setdefault("QT_API", "pyside6")
import tempfile

# the window remembers recent packs with QSettings: keep that out of the user's configuration
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="needlesafe-config-")
