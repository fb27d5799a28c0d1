"""``python -m syncpose`` is the ``syncpose`` command."""

from syncpose.cli import main

raise SystemExit(main())
