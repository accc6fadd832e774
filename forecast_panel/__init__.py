"""forecast-panel's dashboard, and the public exploration API for notebooks.

``forecast_panel.open_store(url)`` returns a ``ForecastStore`` (see ``forecast_panel.explore``).
It is imported on first use, so ``import forecast_panel.app`` stays as light as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecast_panel.explore import ForecastStore, NotInStore, open_store

__all__ = ["ForecastStore", "NotInStore", "open_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from forecast_panel import explore

        return getattr(explore, name)
    raise AttributeError(f"module 'forecast_panel' has no attribute {name!r}")
