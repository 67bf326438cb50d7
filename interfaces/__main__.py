"""`python -m interfaces` is the `toolwise` command."""

import sys

from interfaces.cli import main

sys.exit(main())
