"""``python -m dashboard``: see dashboard.run."""

import sys

from dashboard.run import main

sys.exit(main())
