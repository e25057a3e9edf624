"""Checkpoints: a training run's whole state, written atomically, read as data.

A checkpoint is data, like a spec, and may come from a stranger.  It holds tensors,
numbers and strings only, and is read with ``torch.load(weights_only=True)``, never by
unpickling arbitrary objects.  It holds the model's, optimiser's, schedule's and weight
average's states, the RNG states, the epochs done, the spec's text and its SHA-256 (a
checkpoint of another spec is refused), the command line, the recipe as run, and the
classes of the data.

Reading one allocates nothing the file does not hold: its archive must store every entry
uncompressed (as ``torch.save`` does), so that no entry can inflate past the file's size,
and it is memory-mapped rather than read.  Then every tensor in it must be laid out as
``torch.save`` writes a state's tensors — dense, within its storage — before anything uses
it: a 14 KB file whose tensor claims a stride-0 8 GiB shape is refused, not expanded.
:func:`load` checks the structure; :func:`mismatch`, :func:`check_optimizer`,
:func:`check_schedule` and :func:`check_rng` check the parts against the model, optimiser
and schedule they are about to be loaded into.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
import re
import stat
import tempfile
import zipfile
from pathlib import Path

import torch

from ..errors import UsageError

FORMAT = "archc-checkpoint/1"
_ENTRY = re.compile(r"[^/]+/(data\.pkl|\.format_version|\.storage_alignment|byteorder|version"
                    r"|\.data/serialization_id|data/[0-9]+)")
_DTYPES = {torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
           torch.int32, torch.uint8, torch.bool}
# What a checkpoint holds, and of what type; "averaged" may also be None.
_FIELDS = {"epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "rng": dict,
           "network": str, "spec": str, "spec_sha256": str, "recipe": dict, "classes": list,
           "seed": int}


def spec_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` in one step: a reader (or a run killed meanwhile) sees
    the previous checkpoint or this one, never half of one."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def load(path: Path, spec_text: str | None = None) -> dict:
    """A checkpoint's state, its structure and every tensor checked; with ``spec_text``,
    refused unless it was made from that spec."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError:
        raise UsageError(f"no checkpoint `{path}`") from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"`{path}` is not a checkpoint: it is not a regular file")
    _check_archive(path, info.st_size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file or not a checkpoint at all
        raise UsageError(f"`{path}` is not a checkpoint archc can read: "
                         f"{str(exc).splitlines()[0][:200]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UsageError(f"`{path}` is not an archc checkpoint",
                         hint="archc reads the checkpoint.pt files `archc train` writes, or "
                              "torchvision:NAME weights")
    _check_structure(path, state)
    if spec_text is not None and state["spec_sha256"] != spec_digest(spec_text):
        raise UsageError(f"`{path}` was trained from another spec (`{state['network']}`, "
                         f"SHA-256 {state['spec_sha256'][:12]}…), not this one",
                         hint="evaluate it with the spec it was trained from; the checkpoint "
                              "holds that spec's text under 'spec'")
    return state


def damaged(path: Path, what: str) -> UsageError:
    return UsageError(f"`{path}` is damaged: {what}",
                      hint="a checkpoint archc wrote holds the state of the run it ended; "
                           "this one was changed since, or is not one")


def _check_archive(path: Path, size: int) -> None:
    """The file must be torch.save's archive, its entries stored, each inside the file."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    # zipfile raises NotImplementedError for an entry that claims a newer zip version
    # (the long fuzzing run's find: a damaged byte in the central directory).
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        raise UsageError(f"`{path}` is not a checkpoint archc can read: not the archive "
                         f"torch.save writes") from None
    for entry in entries:
        if not _ENTRY.fullmatch(entry.filename):
            raise damaged(path, f"it holds an entry `{entry.filename[:80]}` that torch.save "
                                f"does not write")
        if entry.compress_type != zipfile.ZIP_STORED or entry.file_size > size:
            raise damaged(path, f"its entry `{entry.filename[:80]}` is compressed, which "
                                f"torch.save never does")


def _check_structure(path: Path, state: dict) -> None:
    for key, kind in _FIELDS.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise damaged(path, f"its `{key}` is missing or not a {kind.__name__}")
    if state.get("averaged") is not None and not isinstance(state["averaged"], dict):
        raise damaged(path, "its `averaged` is not a state")
    classes = state["classes"]
    count = state.get("num_classes", len(classes))
    if not classes or not all(isinstance(c, str) for c in classes) \
            or type(count) is not int or count != len(classes):
        raise damaged(path, "its classes are not a list of names")
    if state["epoch"] < 0:
        raise damaged(path, f"it has done {state['epoch']} epochs")
    for name, tensor in _tensors(state, ""):
        problem = _layout(tensor)
        if problem:
            raise damaged(path, f"`{name}` is {problem}")
    for part in ("model", "averaged"):
        if state.get(part) is not None and not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state[part].items()):
            raise damaged(path, f"its `{part}` is not names and tensors")


def _tensors(value, name: str):
    """(dotted name, tensor) of every tensor inside ``value``."""
    if isinstance(value, torch.Tensor):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{name}.{i}")


def _layout(tensor: torch.Tensor) -> str | None:
    """Why ``tensor`` is not laid out as torch.save writes a state's tensors, or None."""
    if tensor.layout != torch.strided or tensor.dtype not in _DTYPES:
        return f"a {tensor.layout} {tensor.dtype} tensor"
    if not tensor.is_contiguous():
        return (f"a tensor of shape {tuple(tensor.shape)} with strides {tensor.stride()}, "
                f"not laid out in its own memory")
    needed = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
    if tensor.untyped_storage().nbytes() < needed:
        return f"a tensor of shape {tuple(tensor.shape)} larger than its storage"
    return None


# -- the parts, against what they are loaded into -------------------------------------------------


def mismatch(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> str | None:
    """How a state_dict differs from a model's (names, shapes, kinds of number), or None."""
    missing = sorted(set(ours) - set(theirs))
    extra = sorted(set(theirs) - set(ours))
    if missing:
        return f"missing {', '.join(missing[:3])}"
    if extra:
        return f"unexpected {', '.join(extra[:3])}"
    for key in ours:
        if theirs[key].shape != ours[key].shape:
            return f"{key} is {tuple(theirs[key].shape)}, not {tuple(ours[key].shape)}"
        if theirs[key].is_floating_point() != ours[key].is_floating_point():
            return f"{key} holds {theirs[key].dtype}, not {ours[key].dtype}"
    return None


def check_optimizer(path: Path, saved: dict, optimizer: torch.optim.Optimizer,
                    largest_lr: float) -> None:
    """The saved optimiser state must be one of this optimiser, for these parameters:
    the same groups and settings, a learning rate the recipe could have reached (at most
    ``largest_lr``), and per-parameter buffers of the parameters' shapes."""
    fresh = optimizer.state_dict()
    groups = saved.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(fresh["param_groups"]) or \
            not all(isinstance(g, dict) for g in groups):
        raise damaged(path, "its optimiser state is not this optimiser's")
    for group, ours in zip(groups, fresh["param_groups"]):
        for key, value in ours.items():
            if key != "lr" and not _same_value(group.get(key), value):
                raise damaged(path, f"its optimiser's `{key}` is {str(group.get(key))[:40]}, "
                                    f"where the recipe's is {value}")
        lr = group.get("lr")
        if not isinstance(lr, float) or not 0 < lr <= largest_lr * (1 + 1e-9):
            raise damaged(path, f"its learning rate is {str(lr)[:40]}, which this run's "
                                f"recipe (at most {largest_lr:g}) never reaches")
    shapes = {i: p.shape for group, ours in zip(optimizer.param_groups, fresh["param_groups"])
              for i, p in zip(ours["params"], group["params"])}
    state = saved.get("state")
    if not isinstance(state, dict) or not set(state) <= set(shapes):
        raise damaged(path, "its optimiser state is not about this model's parameters")
    for index, buffers in state.items():
        if not isinstance(buffers, dict):
            raise damaged(path, f"its optimiser state of parameter {index} is not a state")
        for key, value in buffers.items():
            wanted = () if key == "step" else shapes[index]
            if value is None and key == "momentum_buffer":
                continue
            if isinstance(value, torch.Tensor) and value.shape == wanted:
                continue
            if key == "step" and isinstance(value, (int, float)) and math.isfinite(value):
                continue
            raise damaged(path, f"its optimiser's `{key}` of parameter {index} is not of the "
                                f"parameter's shape {tuple(wanted)}")


def check_schedule(path: Path, saved: dict, schedule) -> None:
    """The saved schedule state must have this schedule's fields, each of its kind all
    the way down, and start from the recipe's learning rates."""
    fresh = schedule.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(fresh):
        raise damaged(path, "its learning-rate schedule is not this recipe's")
    for key, value in fresh.items():
        if not _same_kind(saved[key], value):
            raise damaged(path, f"its schedule's `{key}` is not what the schedule keeps")
    if "base_lrs" in fresh and saved["base_lrs"] != fresh["base_lrs"]:
        raise damaged(path, "its schedule starts from other learning rates than the recipe's")


def _same_value(theirs, ours) -> bool:
    """Whether a saved setting is ``ours``: the same type and value (a tensor where a
    number belongs is not, whatever it holds), lists and tuples item by item."""
    if isinstance(ours, (list, tuple)):
        return type(theirs) is type(ours) and len(theirs) == len(ours) and \
            all(_same_value(t, o) for t, o in zip(theirs, ours))
    return type(theirs) is type(ours) and theirs == ours


def _same_kind(theirs, ours) -> bool:
    """Whether ``theirs`` is a value of the kind ``ours`` is: a finite number for a
    number, the same keys or length for a dict or a list, and so on inside them."""
    if isinstance(ours, bool) or ours is None or isinstance(ours, str):
        return type(theirs) is type(ours)
    if isinstance(ours, (int, float)):
        return isinstance(theirs, (int, float)) and not isinstance(theirs, bool) \
            and math.isfinite(theirs) and abs(theirs) < 2 ** 53
    if isinstance(ours, (list, tuple)):
        return isinstance(theirs, (list, tuple)) and len(theirs) == len(ours) and \
            all(_same_kind(t, o) for t, o in zip(theirs, ours))
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and set(theirs) == set(ours) and \
            all(_same_kind(theirs[k], ours[k]) for k in ours)
    return type(theirs) is type(ours)


def check_rng(path: Path, saved: dict, cuda: bool) -> None:
    """The saved random states must be states of the generators they are restored to."""
    try:
        torch.Generator().set_state(saved["torch"])
        random.Random().setstate(tuples(saved["python"]))
        if cuda and "cuda" in saved:
            if saved["cuda"].shape != torch.cuda.get_rng_state().shape:
                raise ValueError("not a CUDA generator's state")
    except (KeyError, TypeError, ValueError, OverflowError, RuntimeError, AttributeError):
        raise damaged(path, "its random number generators' states are not theirs") from None


def tuples(value):
    """random.getstate()'s tuples, which a checkpoint may give back as lists."""
    if isinstance(value, list):
        return tuple(tuples(v) for v in value)
    return value
