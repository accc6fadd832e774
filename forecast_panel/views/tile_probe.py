"""Can the browser load the map's tiles? One image, loaded by the page after the map renders.

The map's Bokeh figure gets a JavaScript callback on its ``tags``; the server then adds
``PROBE``, which runs the callback in the browser: it loads the zoom-0 tile and, if that fails,
adds ``FAILED`` to the tags, which Bokeh sends back to the server, where ``on_failed`` runs (on
the session's next tick, with Panel's current document set). A page that loads its tiles sends
nothing back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bokeh.models import CustomJS

PROBE = "fp-tiles-probe"
FAILED = "fp-tiles-failed"
PROBE_JS = f"""
if (fig.tags.includes('{PROBE}') && !fig.tags.includes('{PROBE}-sent')) {{
  fig.tags = [...fig.tags, '{PROBE}-sent']
  const image = new Image()
  image.onerror = () => {{ fig.tags = [...fig.tags, '{FAILED}'] }}
  image.src = url
}}
"""


def first_tile(tile_url: str) -> str:
    """The zoom-0 tile of a ``{Z}/{X}/{Y}`` URL template."""
    for key in ("{Z}", "{X}", "{Y}", "{z}", "{x}", "{y}"):
        tile_url = tile_url.replace(key, "0")
    return tile_url


def probe_tiles(figure: Any, tile_url: str, on_failed: Callable[[], None]) -> None:
    """Ask the page showing ``figure`` to load one tile; ``on_failed()`` if it cannot. Call it
    with the figure in its session's document, holding the document's lock (a Bokeh callback)."""
    if PROBE in figure.tags:
        return
    document = figure.document

    def answered(_attr: str, old: list[Any], new: list[Any]) -> None:
        if FAILED in new and FAILED not in old and document is not None:
            from panel.io.state import set_curdoc

            def apply() -> None:
                with set_curdoc(document):
                    on_failed()

            document.add_next_tick_callback(apply)

    figure.js_on_change("tags", CustomJS(args={"fig": figure, "url": first_tile(tile_url)}, code=PROBE_JS))
    figure.on_change("tags", answered)
    figure.tags = [*figure.tags, PROBE]
