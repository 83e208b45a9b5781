"""`python -m learnsys` is the same as the `learnsys` command."""

from .cli import main

raise SystemExit(main())
