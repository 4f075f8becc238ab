"""``python -m feeds``: see feeds/cli.py."""

from feeds.cli import main

raise SystemExit(main())
