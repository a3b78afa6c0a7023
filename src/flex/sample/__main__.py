"""`python -m flex.sample --job JSON --results DIR [--model FILE] --output FILE`: `flex sample`."""

import sys

from flex.cli import main

sys.exit(main(["sample", *sys.argv[1:]]))
