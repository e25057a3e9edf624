"""Files from a stranger: the weights cache, checkpoints and data folders.

archc reads a checkpoint, a cached download and an image folder as data, never as code,
and within bounds: a planted pickle runs nothing, a tampered file is refused naming what
is wrong, a folder of links or pipes neither hangs nor leaves the tree, and no file
makes archc allocate more than the file itself holds.  Every failure is an ArchcError,
never a traceback.
"""

from __future__ import annotations

import hashlib
import pickle

import pytest
import torch

from archc.errors import UsageError


class _Payload:
    """Unpickling this writes a file: the proof that a pickle's code ran."""

    def __init__(self, proof):
        self.proof = proof

    def __reduce__(self):
        return (open, (str(self.proof), "w"))


def _plant(path, proof):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"conv1.weight": torch.zeros(1), "evil": _Payload(proof)}, path)


# -- torchvision's weights, through the cache -----------------------------------------------------


def test_a_pickle_planted_in_the_weights_cache_runs_nothing(tmp_path, monkeypatch):
    from archc.train import weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    proof = tmp_path / "ran"
    _plant(tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth", proof)
    with pytest.raises(UsageError, match=r"is not torchvision's `vgg16` weights: its SHA-256 "
                                         r"begins [0-9a-f]{8}, not 397923af"):
        weights.load("torchvision:vgg16", "")
    assert not proof.exists()


def test_a_pickle_whose_name_carries_its_own_hash_is_still_read_as_data(tmp_path, monkeypatch):
    """The hash says the file is the one named; weights_only says no file is code."""
    import torchvision.models as models

    from archc.train import weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    proof = tmp_path / "ran"
    source = tmp_path / "evil.pth"
    _plant(source, proof)
    named = source.with_name(f"resnet18-{hashlib.sha256(source.read_bytes()).hexdigest()[:8]}.pth")
    source.rename(named)
    monkeypatch.setattr(models.get_model_weights("resnet18").DEFAULT.value, "url", named.as_uri())
    with pytest.raises(UsageError, match="cannot read"):
        weights.load("torchvision:resnet18", "")
    assert not proof.exists()


def test_a_pipe_in_the_weights_cache_is_refused_without_blocking(tmp_path, monkeypatch):
    import os

    from archc.train import weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "vgg16-397923af.pth")
    with pytest.raises(UsageError, match="not a regular file"):
        weights.load("torchvision:vgg16", "")


def test_pickles_in_general_are_not_what_torch_load_reads(tmp_path):
    """The premise of the above: weights_only=True refuses the payload outright."""
    path = tmp_path / "p.pth"
    _plant(path, tmp_path / "ran")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not (tmp_path / "ran").exists()
