"""``python -m forecast_cli``: the ``forecast-panel`` command."""

from forecast_cli.main import main

raise SystemExit(main())
