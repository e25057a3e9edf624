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


def fuse(net: ir.Network) -> ir.Network:
    """Group every conv → activation → LRN → max-pool chain into one :class:`~archc.ir.Fused`
    node, for the Triton backend (archc/kernels).  A chain is a dense or grouped
    convolution followed by any of: one activation, one cross-channel LRN, one max-pool,
    in that order; it stops where an intermediate output has another reader, the next
    layer lies in another scope (generated code keeps each scope a module of its own), or
    an LRN window is wider than the kernel takes (``ir.FUSED_LRN_MAX``)."""
    if not net.analysed:
        net = analysis.analyze(net)
    users = net.consumers()
    fused: dict[int, list[ir.Node]] = {}  # conv id → the chain's nodes
    for node in net.nodes:
        if not isinstance(node.layer, ir.Conv) or node.layer.connections is not None:
            continue
        chain = [node]
        for fits in (_is_activation, _is_lrn, _is_max_pool):
            after = _next_in_scope(net, users, chain[-1])
            if after is not None and fits(after.layer):
                chain.append(after)
        fused[node.id] = chain

    gone = {member.id for chain in fused.values() for member in chain[1:]}
    new_id = {}
    nodes = []
    for node in net.nodes:
        if node.id in gone:
            continue
        new_id[node.id] = len(nodes)
        if node.id in fused:
            chain = fused[node.id]
            stages = {type(m.layer): m for m in chain[1:]}
            activation = stages.get(ir.Activation)
            members = (node.name, *(stages[kind].name if kind in stages else None
                                    for kind in (ir.Activation, ir.LRN, ir.Pool)))
            node = replace(node, layer=ir.Fused(
                node.layer, activation.layer.function if activation else None,
                stages[ir.LRN].layer if ir.LRN in stages else None,
                stages[ir.Pool].layer if ir.Pool in stages else None, members),
                text=" · ".join(m.text for m in chain))
        nodes.append(node)
    last = {chain[-1].id: conv_id for conv_id, chain in fused.items()}
    renumber = {old: new_id[last.get(old, old)] for old in range(len(net.nodes))
                if last.get(old, old) in new_id}
    nodes = [replace(node, id=i, info=None, inputs=tuple(renumber[s] for s in node.inputs))
             for i, node in enumerate(nodes)]
    root = _renumber_scope(net.root, renumber, gone)
    sides = tuple(replace(side, node=renumber[side.node]) for side in net.sides)
    return analysis.analyze(replace(net, nodes=tuple(nodes), root=root, sides=sides,
                                    output=renumber[net.output], warnings=()))


def _is_activation(layer: ir.Layer) -> bool:
    """An activation the fused kernel computes (archc/kernels: relu, tanh, sigmoid and
    scaled tanh); the later ones run as PyTorch's modules after the kernel."""
    return isinstance(layer, ir.Activation) and layer.function in ir.FUSED_ACTIVATIONS


def _is_lrn(layer: ir.Layer) -> bool:
    return isinstance(layer, ir.LRN) and layer.size <= ir.FUSED_LRN_MAX


def _is_max_pool(layer: ir.Layer) -> bool:
    return isinstance(layer, ir.Pool) and layer.kind == "max"


def _next_in_scope(net: ir.Network, users: dict[int, list[int]], node: ir.Node) -> ir.Node | None:
    """The one reader of ``node``'s output, if it is the next layer of the same scope."""
    if len(users[node.id]) != 1:
        return None
    after = net.nodes[users[node.id][0]]
    same_scope = after.name.rpartition(".")[0] == node.name.rpartition(".")[0]
    return after if same_scope and after.side == node.side else None


def _renumber_scope(scope: ir.Scope, renumber: dict[int, int], gone: set[int]) -> ir.Scope:
    children = tuple(_renumber_scope(c, renumber, gone) if isinstance(c, ir.Scope) else renumber[c]
                     for c in scope.children if isinstance(c, ir.Scope) or c not in gone)
    return replace(scope, children=children)
