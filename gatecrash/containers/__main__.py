"""`python -m gatecrash.containers` (see gatecrash.containers.entry)."""

import sys

from gatecrash.containers.entry import main

sys.exit(main())
