"""Passes: analysed IR in, new IR out (re-analysed, so every node carries fresh info)."""

from __future__ import annotations

from dataclasses import replace

from . import analysis, ir


def has_dense_form(net: ir.Network) -> bool:
    """Whether :func:`dense` changes anything: the network has fully connected layers."""
    return any(isinstance(node.layer, ir.Linear) for node in net.nodes)


def dense(net: ir.Network) -> ir.Network:
    """The fully-convolutional form of a network (Simonyan & Zisserman 2015, §3.2).

    An FC layer reading a C×H×W map becomes an H×W convolution with C input maps; one
    reading a vector becomes a 1×1 convolution.  Parameter counts and names are unchanged
    (the weights are the same, reshaped), so a state_dict carries over; the network then
    accepts larger inputs and produces a map of class scores.
    """
    if not net.analysed:
        net = analysis.analyze(net)
    nodes = []
    for node in net.nodes:
        layer = node.layer
        if isinstance(layer, ir.Linear):
            src = net.nodes[node.inputs[0]].info.shape
            kernel = (1, 1) if src.flat else (src.height, src.width)
            layer = ir.Conv(layer.out_features, kernel, bias=layer.bias)
            node = replace(node, layer=layer, text=f"{node.text} (as conv{kernel[0]}x{kernel[1]})")
        nodes.append(replace(node, info=None))
    return analysis.analyze(replace(net, nodes=tuple(nodes), warnings=()))
