"""`python -m tinycnn.bench layers`"""
import sys

from tinycnn.bench import main

sys.exit(main())
