"""The interactive page: a network drawn as `archc graph` draws it, that answers by pointing.

Pipeline: analysed networks → :mod:`.model` (the facts of each layer and group, and the
drawing, marked by :mod:`.svg`) → :mod:`.page` (one self-contained HTML document, its
script and style from ``templates/view/``).  :mod:`.server` serves that page for
`archc view` and pushes a new state whenever the spec changes on disk.

* :func:`html` — the page for one network or several (`archc graph ... -o FILE.html`);
* :class:`Graph` — the same page as an object notebooks display (``archc.graph(net)``;
  an analysed network's own ``_repr_html_`` uses it).
"""

from __future__ import annotations

import html as _html
from typing import Sequence

from .. import ir, stats

__all__ = ["Graph", "html", "state"]


def state(nets: Sequence[ir.Network], settings: stats.Memory = stats.Memory(),
          collapse: bool = False, detail: bool = False, version: int = 0,
          error: str | None = None) -> dict:
    """What the page shows: each network's data (:func:`.model.network`), the settings the
    saved bytes are counted at, whether groups start folded, and an error to show (the
    live page's spec, broken) — with a version, so a live page knows what is new."""
    from . import model

    return {
        "version": version,
        "collapse": collapse,
        "memory": {"batch": settings.batch, "dtype": settings.dtype,
                   "optimizer": settings.optimizer, "device": settings.device,
                   "text": str(settings)},
        "networks": [model.network(net, settings, collapse, detail) for net in nets],
        "error": error,
    }


def html(nets: Sequence[ir.Network], settings: stats.Memory = stats.Memory(),
         collapse: bool = False, detail: bool = False) -> str:
    """The page for ``nets`` (analysed), as `archc graph -o FILE.html` writes it."""
    from . import page

    return page.html(state(nets, settings, collapse, detail))


class Graph:
    """Networks drawn on the interactive page, for notebooks: Jupyter shows
    :meth:`_repr_html_` (the page in a sandboxed frame of its own, so that several on one
    notebook page cannot touch each other); :meth:`html` is the page itself, and
    :meth:`save` writes it (as `archc graph -o FILE.html` does).

        >>> archc.graph(archc.analyze("alexnet"))          # doctest: +SKIP
    """

    def __init__(self, *nets: ir.Network, collapse: bool = False, height: int = 720,
                 settings: stats.Memory = stats.Memory()):
        if not nets:
            raise TypeError("Graph() needs at least one analysed network")
        self.nets, self.collapse, self.height, self.settings = nets, collapse, height, settings
        self._page: str | None = None

    def html(self) -> str:
        """The whole page (a standalone HTML document)."""
        if self._page is None:
            self._page = html(self.nets, self.settings, self.collapse)
        return self._page

    def save(self, path, force: bool = False) -> None:
        """Write the page to ``path`` (a .html file), safely: atomically, and never over a
        file archc did not write unless ``force``."""
        from .. import output

        output.write(path, self.html(), force=force, ours=output.picture)

    def _repr_html_(self) -> str:
        # srcdoc holds the page as an attribute value: escaped once here, read back by
        # the browser into exactly the page; sandbox: scripts run, but in an origin of
        # their own, away from the notebook and from each other.
        names = ", ".join(net.name for net in self.nets)
        return (f'<iframe class="archc-graph" title="{_html.escape(names)}" '
                f'sandbox="allow-scripts" srcdoc="{_html.escape(self.html(), quote=True)}" '
                f'style="width: 100%; height: {int(self.height)}px; border: 1px solid #ccc; '
                f'border-radius: 4px"></iframe>')

    def __repr__(self) -> str:
        return f"Graph({', '.join(net.name for net in self.nets)})"
