"""``python -m benchmarks.backfill``."""

from benchmarks.backfill.run import main

raise SystemExit(main())
