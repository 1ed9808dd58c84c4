"""``python -m benchmarks.pipeline``."""

from benchmarks.pipeline.run import main

raise SystemExit(main())
