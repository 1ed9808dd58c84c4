"""``python -m benchmarks.front``."""

from benchmarks.front.run import main

raise SystemExit(main())
