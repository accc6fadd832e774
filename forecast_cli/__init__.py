"""The command line (``forecast-panel``) and the offline demo: the top of the house.

``main.py`` dispatches ``forecast-panel COMMAND`` to each package's subcommand module; ``demo.py``
orchestrates sample data → extraction → app + API; ``init_store.py`` is the ``init-store``
subcommand over ``forecast_core.init_store``.
"""
