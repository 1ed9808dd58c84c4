"""``python -m benchmarks.load``."""

from benchmarks.load.run import main

raise SystemExit(main())
