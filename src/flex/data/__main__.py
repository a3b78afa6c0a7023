"""`python -m flex.data --job JSON --output FILE INPUT...`: same as `flex statistics`."""

import sys

from flex.cli import main

sys.exit(main(["statistics", *sys.argv[1:]]))
