"""`python -m flex.evaluate.summary_cli --output FILE INPUT...`: same as `flex summarise`."""

import sys

from flex.cli import main

if __name__ == "__main__":
    sys.exit(main(["summarise", *sys.argv[1:]]))
