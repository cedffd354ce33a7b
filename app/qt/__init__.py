"""Everything Qt: the main window and its views, panels, dialogs and workers. Nothing below `app`
imports this package; the rules they show live in `needlesafe.app.session`."""
import os

os.environ.setdefault("QT_API", "pyside6")  # pyvistaqt and pyqtgraph pick their binding from this
