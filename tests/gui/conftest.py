"""GUI tests run in a real X window (pytest-xvfb starts Xvfb); never the offscreen platform."""
import os

os.environ["QT_QPA_PLATFORM"] = "xcb"
os.environ.setdefault("QT_API", "pyside6")
