"""Memory: what a network needs to run and to train, counted from the analysed IR.

The figures are those of the module archc generates, run by PyTorch with
``backend="torch"``, in one dtype throughout (``model.to(dtype)``: parameters and
activations alike; autocast's float32 master weights are not modelled), at a given batch.

Run (inference, eval mode, under ``torch.no_grad``) — parameters and buffers, plus the
peak of the activations alive at once.  Layers run in the IR's order (that of the
generated code, branch after branch); a layer's output is allocated while its inputs are
alive, and a tensor is freed once the last layer that reads it has run — except a
branch point, which stays alive until the join (a Concat's or Add's input is held by the
module until every branch has run).  An in-place ReLU, dropout in eval mode, an identity
shortcut and the flattening before an FC layer allocate nothing.  Temporaries inside a
layer (LRN's squares and window sums) are not counted.

Train — parameters and buffers; a gradient for every parameter; the optimiser's state
(SGD none, SGD with momentum one buffer per parameter, Adam two, plus a float32 step
count per parameter tensor); and the tensors autograd saves for the backward pass,
counted as PyTorch stores them: unique storages, so a tensor two layers save counts
once.  What each layer saves (checked against torch.autograd.graph.saved_tensors_hooks
for every bundled spec in tests/test_memory.py):

=====================  =============================================================
convolution            its input (a LeNet connection table also the assembled kernel,
                       C_out × C_in × k × k)
FC layer               its input (the flattened view of the map before it)
ReLU, tanh, sigmoid    its output (an in-place ReLU's output is its input's storage)
scaled tanh            tanh's result, a new tensor the size of its output
ReLU6, hardswish,      its input (each is a new tensor, not in place: in place, PyTorch
hardsigmoid, SiLU,     would save a copy of the input, as much again)
GELU
max-pooling            its input, and the argmax indices (int64, one per output)
average pooling        its input; global average pooling nothing (it is a mean)
adaptive pooling       its input
subsampling            its input, and the scaled window sums (one per output)
LRN                    its input, the zero-padded squares (C + size − 1 maps), and two
                       tensors of the output's size (the denominator and its power)
batch norm             its input, and the batch mean and inverse deviation per channel
                       (float32)
dropout                its mask: one element per output, in the activation's dtype on
                       the CPU, one byte (bool) on a GPU; nothing where p = 0
stochastic depth       its factor per example (one element each, in the activation's
                       dtype); nothing where p = 0 (and in inference it is its input)
a product (`mul`)      its inputs (each factor's gradient needs the others), and of three
                       or more, each partial product before the last
channel slice          nothing (a view of its input, whose storage a layer after it
                       saves whole)
channel shuffle        nothing (a new tensor: the maps copied in their new order)
concat, add, identity  nothing
=====================  =============================================================

The network's input is counted where a layer saves it.  Not counted: the transient
gradients of activations during the backward pass (about the size of the largest
layer's output at a time), the loss, and the allocator's rounding and caches.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ir

DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# Activations whose backward reads their input (PyTorch's modules, not in place: run in
# place, they would save a copy of it instead).
_SAVE_INPUT = {"relu6", "hardswish", "hardsigmoid", "silu", "gelu"}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}
"""Buffers the optimiser keeps per parameter: SGD none, momentum one, Adam two."""
DEVICES = ("cuda", "cpu")


@dataclass(frozen=True)
class Memory:
    """Bytes a network needs, for one batch size, dtype, optimiser and device."""

    batch: int
    dtype: str
    optimizer: str
    device: str
    outputs: dict[int, int]  # node id → bytes of its output activation
    parameters: int
    buffers: int
    gradients: int
    optimizer_state: int
    saved: int  # activations autograd keeps for the backward pass
    inference_peak: int  # activations alive at once, at most, running in eval mode

    @property
    def training(self) -> int:
        return self.parameters + self.buffers + self.gradients + self.optimizer_state + self.saved

    @property
    def inference(self) -> int:
        return self.parameters + self.buffers + self.inference_peak


def estimate(net: ir.Network, batch: int = 1, dtype: str = "fp32", optimizer: str = "momentum",
             device: str = "cuda") -> Memory:
    """What ``net`` (analysed) needs to run and to train; see the module docstring."""
    size = DTYPE_BYTES[dtype]
    users = net.consumers()
    storage = _storages(net, users, training=True)
    main = [n for n in net.nodes if n.side is None]
    params = sum(n.info.params for n in net.nodes)
    tensors = sum(_parameter_tensors(n.layer) for n in net.nodes)
    buffers = sum(_buffer_bytes(n, size) for n in net.nodes)
    state = OPTIMIZER_STATES[optimizer] * params * size + (4 * tensors if optimizer == "adam" else 0)
    return Memory(
        batch=batch, dtype=dtype, optimizer=optimizer, device=device,
        outputs={n.id: n.info.shape.size * batch * size for n in net.nodes},
        parameters=params * size, buffers=buffers, gradients=params * size,
        optimizer_state=state,
        saved=sum(_saved(net, storage, batch, size, device).values()),
        inference_peak=_peak(net, main, users, batch, size))


def _parameter_tensors(layer: ir.Layer) -> int:
    if isinstance(layer, (ir.Conv, ir.Linear)):
        return 2 if layer.bias else 1
    if isinstance(layer, (ir.BatchNorm, ir.Subsample)):
        return 2
    return 0


def _buffer_bytes(node: ir.Node, size: int) -> int:
    """Batch norm's running mean and variance, and its int64 count of batches."""
    if isinstance(node.layer, ir.BatchNorm):
        return 2 * node.info.shape.channels * size + 8
    return 0


# -- storages: which tensors share memory ---------------------------------------------------------


def _aliases(net: ir.Network, node: ir.Node, users, training: bool) -> bool:
    """Whether ``node``'s output is its input's storage (nothing allocated)."""
    layer = node.layer
    if isinstance(layer, ir.Identity):
        return True
    if isinstance(layer, ir.Activation) and ir.runs_in_place(net, node, users):
        return True
    if isinstance(layer, ir.ChannelSlice):  # a view of its input
        return True
    return isinstance(layer, (ir.Dropout, ir.StochasticDepth)) and (not training or layer.p == 0)


def _storages(net: ir.Network, users, training: bool) -> dict[int, int]:
    """Node id → the id of the node whose allocation holds its output."""
    storage: dict[int, int] = {}
    for node in net.nodes:
        alias = node.inputs and _aliases(net, node, users, training)
        storage[node.id] = storage[node.inputs[0]] if alias else node.id
    return storage


# -- training: what autograd saves ----------------------------------------------------------------


def saved_by_layer(net: ir.Network, batch: int = 1, dtype: str = "fp32",
                   device: str = "cuda") -> dict[int, int]:
    """Node id → the bytes autograd keeps for the backward pass because of that layer: its
    output, where some layer saves it (counted once however many do, at the layer whose
    allocation holds it: an in-place ReLU's output is its convolution's), and the new
    tensors it saves itself (indices, masks, statistics); the values add up to
    :attr:`Memory.saved`."""
    users = net.consumers()
    return _saved(net, _storages(net, users, training=True), batch, DTYPE_BYTES[dtype], device)


def _saved(net: ir.Network, storage: dict[int, int], batch: int, size: int,
           device: str) -> dict[int, int]:
    kept: set[int] = set()  # storages (by owning node id) that some layer saves
    saved = dict.fromkeys((n.id for n in net.nodes), 0)

    def keep(owner: int) -> None:  # the storage's bytes go to its owner, once
        if owner not in kept:
            kept.add(owner)
            saved[owner] += net.nodes[owner].info.shape.size * batch * size

    for node in net.nodes:
        layer, info = node.layer, node.info
        source = storage[node.inputs[0]] if node.inputs else None
        out = info.shape.size * batch
        extra = 0  # new tensors a layer saves: indices, masks, statistics, intermediates
        if isinstance(layer, (ir.Conv, ir.Linear)):
            keep(source)
            if isinstance(layer, ir.Conv) and layer.connections is not None:
                c_in = net.nodes[node.inputs[0]].info.shape.channels
                extra += layer.out_channels * c_in * layer.kernel[0] * layer.kernel[1] * size
        elif isinstance(layer, ir.Activation):
            if layer.function == "scaled_tanh":
                extra += out * size
            elif layer.function in _SAVE_INPUT:
                keep(source)
            else:
                keep(storage[node.id])
        elif isinstance(layer, ir.Pool):
            keep(source)
            if layer.kind == "max":
                extra += out * 8
        elif isinstance(layer, ir.AdaptiveAvgPool):
            keep(source)
        elif isinstance(layer, ir.Subsample):
            keep(source)
            extra += out * size
        elif isinstance(layer, ir.LRN):
            src = net.nodes[node.inputs[0]].info.shape
            padded = (src.channels + layer.size - 1) * src.height * src.width * batch
            keep(source)
            extra += (padded + 2 * out) * size
        elif isinstance(layer, ir.Mul):  # each factor's gradient is the others'
            for i in node.inputs:
                keep(storage[i])
            # Three or more factors are multiplied in turn: each partial product but the
            # last is a new tensor the next multiply saves (the size of its factors').
            sizes = [net.nodes[i].info.shape.size for i in node.inputs]
            for k in range(2, len(sizes)):
                extra += max(sizes[:k]) * batch * size
        elif isinstance(layer, ir.BatchNorm):
            keep(source)
            extra += 2 * info.shape.channels * 4
        elif isinstance(layer, ir.StochasticDepth) and layer.p > 0:
            extra += batch * size  # the kept-or-dropped factor of each example (N×1×1×1)
        elif isinstance(layer, ir.Dropout) and layer.p > 0:
            extra += out * (1 if device == "cuda" else size)
        saved[node.id] += extra
    return saved


# -- inference: the peak of live activations -------------------------------------------------------


def _peak(net: ir.Network, nodes: list[ir.Node], users, batch: int, size: int) -> int:
    storage = _storages(net, users, training=False)
    running = [n for n in nodes if not isinstance(n.layer, ir.Softmax)]  # left to the loss
    last_read: dict[int, int] = {}  # storage → the step after which it can go
    for step, node in enumerate(running):
        for src in node.inputs:
            last_read[storage[src]] = step
    for join in (n for n in running if isinstance(n.layer, ir.JOINS)):
        step = running.index(join)
        for chain in net.branches(join):  # a branch point lives until the join
            if chain:
                first = chain[0]
                head = min(first.node_ids()) if isinstance(first, ir.Scope) else first
                start = storage[net.nodes[head].inputs[0]]
                last_read[start] = max(last_read.get(start, step), step)
    output = storage[net.output]
    live, peak = {}, 0
    for step, node in enumerate(running):
        if storage[node.id] == node.id:
            live[node.id] = node.info.shape.size * batch * size
        peak = max(peak, sum(live.values()))
        for owner in [o for o in live if last_read.get(o, -1) <= step and o != output]:
            del live[owner]
    return peak
