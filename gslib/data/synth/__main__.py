"""``python -m gslib.data.synth``: see :mod:`gslib.data.synth.cli`."""
from gslib.data.synth.cli import main

raise SystemExit(main())
