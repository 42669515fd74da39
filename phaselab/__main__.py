"""`python -m phaselab ...`: the same as the `phaselab` command."""
import sys

from phaselab.cli import main

sys.exit(main())
