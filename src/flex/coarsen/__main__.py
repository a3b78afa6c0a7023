"""`python -m flex.coarsen --job JSON --input FILE --output FILE`: same as `flex coarsen`."""

import sys

from flex.cli import main

sys.exit(main(["coarsen", *sys.argv[1:]]))
