"""`python -m tinycnn ...` is the `tinycnn` command."""
import sys

from tinycnn.cli import main

sys.exit(main())
