"""``python -m benchmarks.reconcile``."""

from benchmarks.reconcile.run import main

raise SystemExit(main())
