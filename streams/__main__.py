"""`python -m streams` is the `toolwise` command."""

import sys

from streams.cli import main

sys.exit(main())
