"""`python -m flex.simulate --job JSON --output FILE`: same as `flex simulate`."""

import sys

from flex.cli import main

sys.exit(main(["simulate", *sys.argv[1:]]))
