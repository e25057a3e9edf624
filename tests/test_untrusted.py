"""Files from a stranger: the weights cache, checkpoints and data folders.

archc reads a checkpoint, a cached download and an image folder as data, never as code,
and within bounds: a planted pickle runs nothing, a tampered file is refused naming what
is wrong, a folder of links or pipes neither hangs nor leaves the tree, and no file
makes archc allocate more than the file itself holds.  Every failure is an ArchcError,
never a traceback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
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


# -- helpers for the run-folder, checkpoint and image-folder cases --------------------------------

import contextlib  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archc import cli  # noqa: E402
from safety import fuzz, watchdog  # noqa: E402

SPEC = """network small input 3x16x16
conv3-4; maxpool
FC-3
train sgd lr=0.05 momentum=0.9 batch=4 epochs=2
augment scale=16..20 flip mean=dataset
evaluate center
"""


def archc(*args) -> tuple[int, str]:
    """`archc ARGS...` in-process: (exit code, what it printed to stderr).  Anything but
    an ArchcError escaping cli.main (a traceback, for a user) fails the test here."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse's refusal of an argument: a usage message
            code = exc.code
    return code, err.getvalue()


def refused(code: int, err: str, *words: str) -> bool:
    return code == 2 and err.startswith("error: ") and "Traceback" not in err and \
        all(w in err for w in words)


def _png(path, width, height, seed=0):
    from PIL import Image

    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (height, width, 3), generator=generator, dtype=torch.uint8)
    Image.fromarray(pixels.numpy()).save(path)


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels, with no pixels behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def _folder(root, train=4, val=2):
    for split, count in (("train", train), ("val", val)):
        for k, name in enumerate(("a", "b", "c")):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                _png(root / split / name / f"{i}.png", 18 + i, 20, seed=10 * k + i)
    return root


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A spec, its data, and a run of it that finished its first of two epochs."""
    top = tmp_path_factory.mktemp("small")
    spec = top / "small.arch"
    spec.write_text(SPEC)
    data = _folder(top / "data")
    run = top / "run"
    done = subprocess.run([sys.executable, "-m", "archc", "train", str(spec), "--data", str(data),
                           "-o", str(run), "--epochs", "1", "--workers", "0", "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return spec, data, run


# -- data folders: links, pipes, huge and broken images --------------------------------------------


def test_links_back_into_the_tree_and_out_of_it_are_walked_once_or_not_at_all(small, tmp_path):
    spec, data, _ = small
    tree = tmp_path / "data"
    shutil.copytree(data, tree)
    outside = tmp_path / "outside"
    outside.mkdir()
    _png(outside / "stranger.png", 20, 20)
    red = tree / "train" / "a"
    os.symlink("..", red / "up")              # back to train/: an endless walk, once
    os.symlink(".", red / "self")
    os.symlink(outside, red / "out")          # out of the tree
    os.symlink(outside / "stranger.png", red / "stranger.png")
    os.symlink("nothing.png", red / "dangling.png")
    os.mkfifo(red / "pipe.png")               # would block open() for ever
    with watchdog(120, "a walk through links and a pipe"):
        code, err = archc("train", spec, "--data", tree, "-o", tmp_path / "r", "--max-steps", "1",
                          "--workers", "0")
    assert code == 0, err
    assert "note: left out 6 entries" in err
    from archc.train import data as loader

    classes, samples, skipped = loader._walk(tree / "train")
    assert classes == ["a", "b", "c"] and len(samples) == 12  # ImageFolder's, and no more
    assert all(Path(p).resolve().is_relative_to((tree / "train").resolve()) for p, _ in samples)
    reasons = " ".join(skipped)
    assert "already walked" in reasons and "a link out of the folder" in reasons
    assert "not a regular file" in reasons and "leads nowhere" in reasons


def test_the_walk_finds_what_imagefolder_finds(small):
    from torchvision.datasets import ImageFolder

    from archc.train import data as loader

    _, data, _ = small
    theirs = ImageFolder(str(data / "train"))
    classes, samples, skipped = loader._walk(data / "train")
    assert (classes, samples, skipped) == (theirs.classes, theirs.samples, [])


def test_a_pipe_given_as_an_image_is_refused_without_blocking(tmp_path):
    from archc.train import data as loader

    os.mkfifo(tmp_path / "pipe.png")
    with watchdog(30, "opening a pipe"), pytest.raises(loader.UnreadableImage,
                                                       match="not a regular file"):
        loader._load_image(str(tmp_path / "pipe.png"))


@pytest.mark.parametrize("width, height, why", [
    (7000, 7000, "it has 7,000×7,000 pixels, more than archc decodes"),
    (4, 100_000, "once rescaled to a shorter side of 256"),  # small, but 256×6.4M rescaled
])
def test_an_image_too_large_to_decode_is_refused_before_decoding(small, tmp_path, width, height,
                                                                 why):
    spec, data, _ = small
    tree = tmp_path / "data"
    shutil.copytree(data, tree)
    (tree / "train" / "b" / "0.png").write_bytes(_png_header(width, height))
    code, err = archc("train", spec, "--data", tree, "-o", tmp_path / "r", "--workers", "0")
    assert refused(code, err, "cannot read the image", "b/0.png", why)


def test_a_corrupt_image_in_val_is_named(small, tmp_path):
    spec, data, run = small
    tree = tmp_path / "data"
    shutil.copytree(data, tree)
    png = (tree / "val" / "c" / "1.png")
    png.write_bytes(png.read_bytes()[:60])  # truncated
    code, err = archc("eval", spec, "--weights", run / "checkpoint.pt", "--data", tree,
                      "--workers", "0")
    assert refused(code, err, "cannot read the image", "c/1.png")


def test_eval_needs_no_train_folder_unless_the_mean_comes_from_it(small, tmp_path):
    spec, data, run = small
    tree = tmp_path / "data"
    shutil.copytree(data / "val", tree / "val")
    code, err = archc("eval", spec, "--weights", run / "checkpoint.pt", "--data", tree)
    assert refused(code, err, "has no `train` folder", "`mean=dataset` is the training images'")
    other = tmp_path / "imagenet.arch"
    other.write_text(SPEC.replace("mean=dataset", "mean=imagenet"))
    trained = tmp_path / "r"
    code, err = archc("train", other, "--data", data, "-o", trained, "--epochs", "1",
                      "--workers", "0", "-q")
    assert code == 0, err
    code, err = archc("eval", other, "--weights", trained / "checkpoint.pt", "--data", tree,
                      "--workers", "0")
    assert code == 0, err


def test_a_termination_while_an_image_decodes_is_not_an_unreadable_image(tmp_path, monkeypatch):
    """SIGTERM raises Terminated wherever the program is; in the decoder it must end the
    command (exit 143), not be caught as a decoding failure."""
    import PIL.Image

    from archc.terminal import Terminated
    from archc.train import data as loader

    _png(tmp_path / "x.png", 8, 8)

    def open_interrupted(*args, **kwargs):
        raise Terminated(15)
    monkeypatch.setattr(PIL.Image, "open", open_interrupted)
    with pytest.raises(Terminated):
        loader._load_image(str(tmp_path / "x.png"))


@fuzz(12)
@given(st.lists(st.sampled_from(["loop", "self", "out", "dangling", "fifo", "truncated", "empty",
                                 "huge", "thin", "folder.png", "text.png", "link-in"]),
                min_size=1, max_size=4, unique=True),
       st.sampled_from(["train", "val"]))
def test_fuzzed_image_folders_end_in_a_run_or_an_error(small, tmp_path_factory, hazards, split):
    spec, data, _ = small
    top = tmp_path_factory.mktemp("fuzz")
    tree = top / "data"
    shutil.copytree(data, tree)
    where = tree / split / "b"
    outside = top / "outside"
    outside.mkdir()
    for hazard in hazards:
        target = where / f"{hazard}.png"
        if hazard == "loop":
            os.symlink("../..", where / "loop")
        elif hazard == "self":
            os.symlink(".", where / "self")
        elif hazard == "out":
            os.symlink(outside, where / "out")
        elif hazard == "dangling":
            os.symlink(top / "nowhere.png", target)
        elif hazard == "fifo":
            os.mkfifo(target)
        elif hazard == "truncated":
            target.write_bytes((where / "0.png").read_bytes()[:50])
        elif hazard == "empty":
            target.write_bytes(b"")
        elif hazard == "huge":
            target.write_bytes(_png_header(60_000, 60_000))
        elif hazard == "thin":
            target.write_bytes(_png_header(1, 10_000_000))
        elif hazard == "folder.png":
            (where / "folder.png").mkdir()
        elif hazard == "text.png":
            target.write_text("not an image")
        elif hazard == "link-in":
            os.symlink(where / "0.png", target)
    with watchdog(120, f"a folder with {hazards}"):
        code, err = archc("train", spec, "--data", tree, "-o", top / "r", "--max-steps", "2",
                          "--workers", "0", "-q")
    assert code == 0 or refused(code, err), err


# -- run folders ------------------------------------------------------------------------------------


def test_a_run_that_failed_before_its_first_epoch_can_be_started_again(small, tmp_path):
    _, data, _ = small
    spec = tmp_path / "imagenet.arch"  # no image is read before the first epoch
    spec.write_text(SPEC.replace("mean=dataset", "mean=imagenet"))
    tree = tmp_path / "data"
    shutil.copytree(data, tree)
    good = (tree / "train" / "a" / "1.png").read_bytes()
    (tree / "train" / "a" / "1.png").write_bytes(b"broken")
    run = tmp_path / "run"
    code, err = archc("train", spec, "--data", tree, "-o", run, "--workers", "0")
    assert refused(code, err, "cannot read the image")
    assert sorted(os.listdir(run)) == ["metrics.jsonl", "run.json"]
    code, err = archc("train", spec, "--data", tree, "--resume", run)
    assert refused(code, err, "never finished an epoch", f"-o {run}")
    (tree / "train" / "a" / "1.png").write_bytes(good)
    code, err = archc("train", spec, "--data", tree, "-o", run, "--epochs", "1", "--workers", "0",
                      "-q")
    assert code == 0, err
    assert (run / "checkpoint.pt").is_file()


def test_resume_never_writes_through_a_link_in_the_run_folder(small, tmp_path):
    spec, data, run = small
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    os.unlink(copy / "metrics.jsonl")
    os.symlink(victim, copy / "metrics.jsonl")
    code, err = archc("train", spec, "--data", data, "--resume", copy, "--epochs", "2",
                      "--workers", "0", "-q")
    assert refused(code, err, "metrics.jsonl", "not a link")
    assert victim.read_text() == "mine\n"


@pytest.mark.parametrize("flag, value", [("--lr", "0.1"), ("--batch", "8"), ("--momentum", "0.5"),
                                         ("--weight-decay", "0.001")])
def test_resume_refuses_what_it_would_otherwise_ignore(small, tmp_path, flag, value):
    spec, data, run = small
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    code, err = archc("train", spec, "--data", data, "--resume", copy, flag, value)
    assert refused(code, err, f"{flag} with --resume", "--init-from")


@pytest.mark.parametrize("value", ["inf", "nan", "1e39", "-1"])
def test_a_learning_rate_that_cannot_train_is_refused(small, tmp_path, value):
    spec, data, _ = small
    code, err = archc("train", spec, "--data", data, "-o", tmp_path / "r", "--lr", value)
    assert code == 2 and "argument --lr: expected a number" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_o_names_the_folder_itself_never_a_link_or_a_path_under_a_file(small, tmp_path):
    spec, data, _ = small
    empty = tmp_path / "empty"
    empty.mkdir()
    os.symlink(empty, tmp_path / "link")
    code, err = archc("train", spec, "--data", data, "-o", tmp_path / "link")
    assert refused(code, err, "is a symbolic link") and not any(empty.iterdir())
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    code, err = archc("train", spec, "--data", data, "-o", tmp_path / "dangling")
    assert refused(code, err, "is a symbolic link") and not (tmp_path / "nowhere").exists()
    (tmp_path / "file").write_text("mine")
    code, err = archc("train", spec, "--data", data, "-o", tmp_path / "file" / "run")
    assert refused(code, err, "cannot make the folder")
    code, err = archc("train", spec, "--data", data, "-o", tmp_path / "file")
    assert refused(code, err, "is not a folder") and (tmp_path / "file").read_text() == "mine"


def test_the_triton_backend_on_a_cpu_is_refused(small, tmp_path):
    spec, data, _ = small
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "archc", "train", str(spec), "--data", str(data),
                           "-o", str(tmp_path / "r"), "--backend", "triton", "--device", "cpu"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert refused(done.returncode, done.stderr, "need a CUDA GPU", "--backend auto")


# -- checkpoints: tampered, every way -----------------------------------------------------------


def _paths(value, prefix=()):
    """Every place in a checkpoint's state: (path, value)."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _replace(state, path, new):
    """``state`` with the value at ``path`` replaced (or deleted, for new=_DELETE)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(state, dict):
        copy = dict(state)
        if rest or new is not _DELETE:
            copy[head] = _replace(state[head], rest, new)
        else:
            del copy[head]
        return copy
    items = list(state)
    if rest or new is not _DELETE:
        items[head] = _replace(state[head], rest, new)
    else:
        del items[head]
    return type(state)(items) if isinstance(state, tuple) else items


_DELETE = object()
_VALUES = {
    "deleted": lambda old: _DELETE,
    "a string": lambda old: "x" * 10,
    "None": lambda old: None,
    "a list": lambda old: [1, 2, 3],
    "NaN": lambda old: float("nan"),
    "a huge number": lambda old: 10 ** 30,
    "True": lambda old: True,
    "an empty dict": lambda old: {},
    "a tensor of int64": lambda old: torch.zeros(old.shape, dtype=torch.int64)
    if isinstance(old, torch.Tensor) else torch.zeros(2, dtype=torch.int64),
    "a complex tensor": lambda old: torch.zeros(2, dtype=torch.complex64),
    "another shape": lambda old: torch.zeros(3, 5),
    "a 2 GiB stride-0 view": lambda old: torch.zeros(1).expand(1 << 29),
    "a transposed view": lambda old: torch.zeros(4, 6).t(),
    "a view past its start": lambda old: torch.zeros(64)[8:],
}


@pytest.fixture(scope="module")
def state(small):
    return torch.load(small[2] / "checkpoint.pt", weights_only=True)


def _commands(spec, data, run, tmp):
    checkpoint = run / "checkpoint.pt"
    return [("train", spec, "--data", data, "--resume", run, "--epochs", "2", "--workers", "0",
             "-q"),
            ("eval", spec, "--weights", checkpoint, "--data", data, "--workers", "0"),
            ("train", spec, "--data", data, "-o", tmp / "init", "--init-from", checkpoint,
             "--max-steps", "1", "--workers", "0", "-q")]


def _try_all(small, top, write):
    """Each command that reads a checkpoint, on the one ``write`` makes: only ArchcErrors."""
    spec, data, run = small
    copy = top / "run"
    shutil.copytree(run, copy)
    write(copy / "checkpoint.pt")
    results = []
    for command in _commands(spec, data, copy, top):
        with watchdog(120, f"{command[0]} on a tampered checkpoint"):
            code, err = archc(*command)
        assert code == 0 or refused(code, err), err
        results.append((code, err))
        shutil.rmtree(top / "init", ignore_errors=True)
    return results


@fuzz(25)
@given(st.data())
def test_tampered_checkpoints_are_refused_or_used_never_a_traceback(small, state,
                                                                    tmp_path_factory, data):
    places = [path for path, _ in _paths(state) if path and path[0] != "spec"]
    path = data.draw(st.sampled_from(places), label="where")
    kind = data.draw(st.sampled_from(sorted(_VALUES)), label="what")
    old = state
    for key in path:
        old = old[key]
    tampered = _replace(state, path, _VALUES[kind](old))
    _try_all(small, tmp_path_factory.mktemp("ckpt"), lambda p: torch.save(tampered, p))


@pytest.mark.parametrize("where, what, refusing", [
    (("model", "conv.weight"), "a 2 GiB stride-0 view", "resume eval init"),
    (("optimizer", "state", 0, "momentum_buffer"), "a 2 GiB stride-0 view", "resume eval init"),
    (("model", "fc.bias"), "a view past its start", "resume eval"),  # laid out well: a shape
    (("model", "conv.weight"), "another shape", "resume eval"),  # init-from leaves it out
    (("model", "fc.bias"), "deleted", "resume eval"),
    (("optimizer", "state", 0, "momentum_buffer"), "another shape", "resume"),
    (("rng", "torch"), "a string", "resume"),
    (("optimizer", "param_groups", 0, "momentum"), "a tensor of int64", "resume"),  # fuzzer's
    (("recipe", "lr"), "a huge number", "resume"),
    (("classes",), "a list", "resume eval init"),
    (("epoch",), "NaN", "resume eval init"),
])
def test_a_tampered_checkpoint_is_refused_by_the_commands_that_use_the_part(
        small, state, tmp_path, where, what, refusing):
    """Each command checks what it takes from a checkpoint; eval and --init-from take the
    model's weights only (and what they reuse, they check)."""
    old = state
    for key in where:
        old = old[key]
    tampered = _replace(state, where, _VALUES[what](old))
    results = _try_all(small, tmp_path, lambda p: torch.save(tampered, p))
    for name, (code, err) in zip(("resume", "eval", "init"), results):
        if name in refusing.split():
            assert refused(code, err, "damaged") or refused(code, err, "checkpoint"), (name, err)
        else:
            assert code == 0, (name, err)


def test_a_checkpoint_whose_tensors_inflate_is_refused_before_it_is_read(small, tmp_path):
    """Compressed entries could expand past the file's size: torch.save never writes one."""
    def compressed(path):
        source = small[2] / "checkpoint.pt"
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
            for entry in old.infolist():
                new.writestr(entry.filename, old.read(entry))
    for code, err in _try_all(small, tmp_path, compressed):
        assert refused(code, err, "is compressed, which torch.save never does"), err


@fuzz(25)
@given(st.data())
def test_damaged_checkpoint_bytes_are_refused_or_used_never_a_traceback(small, tmp_path_factory,
                                                                        data):
    original = (small[2] / "checkpoint.pt").read_bytes()
    how = data.draw(st.sampled_from(["truncate", "flip", "extra entry"]), label="how")
    if how == "truncate":
        damaged = original[:data.draw(st.integers(0, len(original) - 1), label="at")]
    elif how == "flip":
        damaged = bytearray(original)
        for at in data.draw(st.lists(st.integers(0, len(original) - 1), min_size=1, max_size=8),
                            label="at"):
            damaged[at] ^= 0xFF
    else:
        buffer = io.BytesIO(original)
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr("checkpoint/../../evil", b"x")
        damaged = buffer.getvalue()

    def write(path):
        path.write_bytes(bytes(damaged))
    _try_all(small, tmp_path_factory.mktemp("bytes"), write)


def test_a_checkpoint_claiming_a_newer_zip_version_is_refused(small, tmp_path):
    """The long fuzzing run's find: one damaged byte in the central directory made an
    entry claim zip version 25.5, and zipfile's NotImplementedError reached the user."""
    damaged = bytearray((small[2] / "checkpoint.pt").read_bytes())
    at = damaged.find(b"PK\x01\x02")  # the central directory's first entry
    damaged[at + 6] = 0xFF  # version needed to extract: 25.5
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(damaged))
    spec, data, _ = small
    code, err = archc("eval", spec, "--weights", path, "--data", data, "--workers", "0")
    assert refused(code, err, "is not a checkpoint archc can read"), err


def test_eval_scales_smaller_than_the_input_are_refused(small):
    """Dense evaluation slides the network over the image: a smaller one has no output."""
    spec, data, run = small
    code, err = archc("eval", spec, "--weights", run / "checkpoint.pt", "--data", data,
                      "--protocol", "dense", "--scales", "8,32", "--workers", "0")
    assert refused(code, err, "--scales 8,32: dense slides the 16×16 network", "smaller than 16")
    code, err = archc("eval", spec, "--weights", run / "checkpoint.pt", "--data", data,
                      "--protocol", "dense", "--scales", "16,1e20", "--workers", "0")
    assert refused(code, err, "give shorter sides from 1 to 2,048")
