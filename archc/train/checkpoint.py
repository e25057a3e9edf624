"""Checkpoints: a training run's whole state, written atomically, read as data.

A checkpoint is data, like a spec: it holds tensors, numbers and strings only, and is read
with ``torch.load(weights_only=True)``, never by unpickling arbitrary objects.  It holds
the model's, optimiser's, schedule's and weight average's states, the RNG states, the
epochs done, the spec's text and its SHA-256 (a checkpoint of another spec is refused),
the command line, the recipe as run, and the classes of the data.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import torch

from ..errors import UsageError

FORMAT = "archc-checkpoint/1"


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
    """A checkpoint's state; with ``spec_text``, refused unless it was made from that spec."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint `{path}`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file or not a checkpoint at all
        raise UsageError(f"`{path}` is not a checkpoint archc can read: "
                         f"{str(exc).splitlines()[0][:200]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UsageError(f"`{path}` is not an archc checkpoint",
                         hint="archc reads the checkpoint.pt files `archc train` writes, or "
                              "torchvision:NAME weights")
    if spec_text is not None and state.get("spec_sha256") != spec_digest(spec_text):
        raise UsageError(f"`{path}` was trained from another spec (`{state.get('network')}`, "
                         f"SHA-256 {str(state.get('spec_sha256'))[:12]}…), not this one",
                         hint="evaluate it with the spec it was trained from; the checkpoint "
                              "holds that spec's text under 'spec'")
    return state
