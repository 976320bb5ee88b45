"""``python -m xy_tokenizer``: the ``xytok`` command."""
import sys

from xy_tokenizer.cli import main

if __name__ == "__main__":
    sys.exit(main())
