"""``python -m dvt_us`` is ``dvt-us``."""

import sys

from dvt_us.cli import main

sys.exit(main())
