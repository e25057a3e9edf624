"""Graphviz's SVG, made fit for the page: only drawing is kept, and every element says what
it draws.

:func:`annotate` parses what `dot` wrote, keeps only the elements and attributes of a
drawing (an allow-list: shapes, text, their geometry and paint — no script, link, style,
event handler or foreign markup can come through, whatever a label held), and marks

* each layer's box ``data-layer="NAME"`` (NAME as `archc stats` and the state_dict call
  it) and ``data-box`` (its key in the page's data), focusable, with the layer's name as
  its accessible label; a tower of a grouped convolution also ``data-tower``;
* each labelled group, block instance, join or side output ``data-group="PATH"``;
* each edge ``data-tail`` and ``data-head`` (the boxes it joins);
* the legend ``class="legend"``, the background ``class="background"``.

Graphviz's own ids and tooltips (``<title>n12</title>``) are dropped: they name nothing a
reader knows.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .. import ir, render

SVG = "http://www.w3.org/2000/svg"
_ELEMENTS = {"svg", "g", "path", "polygon", "polyline", "ellipse", "circle", "rect", "line",
             "text"}
_ATTRIBUTES = {"width", "height", "viewBox", "transform", "points", "d", "fill", "stroke",
               "stroke-width", "stroke-dasharray", "stroke-opacity", "fill-opacity", "x", "y",
               "cx", "cy", "rx", "ry", "r", "x1", "y1", "x2", "y2", "text-anchor",
               "font-family", "font-size", "font-weight", "font-style", "class"}


def annotate(data: bytes, picture: render.Picture, net: ir.Network) -> str:
    """The SVG `dot` drew for ``picture``, cleaned and marked (see the module docstring)."""
    root = ET.fromstring(data)
    names = {node.id: node.name for node in net.nodes}
    _clean(root)
    graph = root.find(f"{{{SVG}}}g")
    if graph is not None:
        background = graph.find(f"{{{SVG}}}polygon")
        if background is not None:
            background.set("class", "background")
    for group in root.iter(f"{{{SVG}}}g"):
        title = group.find(f"{{{SVG}}}title")
        if title is None:
            continue
        key = title.text or ""
        group.remove(title)
        kind = group.get("class", "")
        if kind == "node":
            ids = picture.boxes.get(key)
            if ids is None:
                group.set("class", "node legend")
                continue
            name = names[ids[0]]
            group.set("data-box", key)
            group.set("data-layer", name)
            group.set("tabindex", "0")
            group.set("role", "button")
            group.set("aria-label", name)
            tower = key.rpartition("_")[2] if "_" in key else None
            if tower is not None:
                group.set("data-tower", tower)
        elif kind == "cluster":
            path = picture.clusters.get(key)
            if path is None:
                group.set("class", "cluster legend")
                continue
            group.set("data-group", path)
            group.set("tabindex", "0")
            group.set("role", "button")
            group.set("aria-label", f"group {path}: fold or unfold")
        elif kind == "edge":
            tail, _, head = key.partition("->")
            group.set("data-tail", tail)
            group.set("data-head", head)
    ET.register_namespace("", SVG)
    return ET.tostring(root, encoding="unicode")


def _clean(element: ET.Element) -> None:
    """Drop every element (and its content) and attribute not on the allow-lists; the
    titles stay until :func:`annotate` has read them."""
    for attribute in list(element.attrib):
        if attribute not in _ATTRIBUTES:
            del element.attrib[attribute]
    for child in list(element):
        tag = child.tag.rpartition("}")[2] if child.tag.startswith(f"{{{SVG}}}") else None
        if tag == "title" and element.tag == f"{{{SVG}}}g" and not len(child):
            child.attrib.clear()
            continue
        if tag not in _ELEMENTS:
            element.remove(child)
            continue
        _clean(child)
