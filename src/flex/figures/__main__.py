"""`python -m flex.figures --job JSON --results DIR --figures DIR --tables DIR`: `flex figures`."""

import sys

from flex.cli import main

sys.exit(main(["figures", *sys.argv[1:]]))
