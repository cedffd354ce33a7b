import sys

from needlesafe.app.cli import main

sys.exit(main())
