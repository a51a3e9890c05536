"""`python -m app.cli …`, as the `runway-console` script (bench/ starts the console this way)."""

from app.cli import main

raise SystemExit(main())
