"""``python -m nnscratch``: the command line (see `nnscratch.cli`)."""

from nnscratch.cli import main

raise SystemExit(main())
