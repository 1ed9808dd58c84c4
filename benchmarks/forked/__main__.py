"""``python -m benchmarks.forked``."""

from benchmarks.forked.run import main

raise SystemExit(main())
