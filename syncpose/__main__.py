"""``python -m syncpose`` is the ``syncpose`` command (the one core module that reaches the
application layer: it is the program's entry, not a module anyone imports)."""

from syncpose.app.cli import main

raise SystemExit(main())
