"""``python -m benchmarks.service``."""

from benchmarks.service.run import main

raise SystemExit(main())
