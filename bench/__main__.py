"""`python -m bench` (`make bench`): the benchmark harness. See docs/performance.md."""

import sys

from bench.cli import main

sys.exit(main())
