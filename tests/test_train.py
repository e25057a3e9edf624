"""`archc train` and `archc eval`: the papers' recipes carried out.

LeNet-5 learns the bundled digits; a run killed with SIGKILL and resumed ends with the
weights of one that was not; two processes under torchrun take the steps one process
takes on the same global batch; the test protocols are checked against a computation
written out here; AlexNet's update rule against PyTorch's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import archc
from archc import ir
from archc.train import checkpoint, optim
from conftest import ROOT

TINY = """network tiny input 3x32x32
conv3-8; maxpool
conv3-16; maxpool
FC-32; dropout
FC-10
train sgd lr=0.05 momentum=0.9 batch=8 epochs=2
augment scale=32..40 flip lighting=0.1 mean=dataset
evaluate dense scales=(32, 40) flip
"""


def archc_cli(*args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archc", *map(str, args)], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A small ImageFolder tree: three classes of coloured images of varied sizes."""
    return _coloured_images(tmp_path_factory.mktemp("images") / "data", seed=0,
                            counts=(12, 4), framed=False)


def _coloured_images(root: Path, seed: int, counts: tuple[int, int], framed: bool) -> Path:
    """Red, green and blue noise images of varied sizes, `counts` of each for train and
    val; `framed` ones share a structure (a bright band on the left, a dark one on top)."""
    from PIL import Image

    generator = torch.Generator().manual_seed(seed)
    for split, count in zip(("train", "val"), counts):
        for name, colour in (("red", (200, 30, 30)), ("green", (30, 200, 30)),
                             ("blue", (30, 30, 200))):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                w, h = (int(v) for v in torch.randint(36, 60, (2,), generator=generator))
                pixels = torch.tensor(colour) + torch.randint(-40, 40, (h, w, 3),
                                                              generator=generator)
                if framed:
                    pixels[:, : w // 3] = 255
                    pixels[: h // 4] = 0
                pixels = pixels.clamp(0, 255).to(torch.uint8)
                Image.fromarray(pixels.numpy()).save(root / split / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    spec = tmp_path_factory.mktemp("spec") / "tiny.arch"
    spec.write_text(TINY)
    return spec


# -- LeNet-5 on real handwriting -------------------------------------------------------------------


def test_lenet5_learns_the_digits(tmp_path, run_cli):
    """The README's promise: ≥ 97 % on the held-out digits with the spec's own recipe."""
    code, _, err = run_cli("train", "lenet5", "--data", "digits", "-o", tmp_path / "run", "-q",
                           "--plot", tmp_path / "curves.svg")
    assert code == 0, err
    from archc import output

    assert output.picture(tmp_path / "curves.svg")  # the learning curves, marked as archc's
    assert "validation error (%)" in (tmp_path / "curves.svg").read_text()
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    epochs = [line for line in lines if "top1_error" in line]
    assert len(epochs) == archc.analyze("lenet5").recipe.epochs == 20
    assert epochs[-1]["top1_error"] <= 0.03
    assert {"epoch", "step", "loss", "lr", "images_per_s", "wall_s"} <= set(lines[0])
    code, out, _ = run_cli("eval", "lenet5", "--weights", tmp_path / "run" / "checkpoint.pt",
                           "--data", "digits", "-f", "json")
    result = json.loads(out)
    assert code == 0 and result["images"] == 364
    assert result["top1_error"] == pytest.approx(epochs[-1]["top1_error"])
    code, out, err = run_cli("eval", "lenet5", "--weights", tmp_path / "run" / "checkpoint.pt",
                             "--data", "digits", "-f", "json", "--protocol", "multi-crop")
    assert code == 0 and "no multi-crops to take: each is evaluated whole" in err
    assert json.loads(out)["top1_error"] == result["top1_error"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["recipe"]["lr"] == 0.02 and run["network"] == "lenet5"


# -- checkpoints: kill, resume ---------------------------------------------------------------------


def test_a_run_killed_mid_epoch_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    args = ["train", "lenet5", "--data", "digits", "--epochs", "3", "-q"]
    done = archc_cli(*args, "-o", tmp_path / "whole")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "archc", *args, "-o", str(run),
                                "--log-every", "1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # SIGKILL in the middle of the second epoch
        log = run / "metrics.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        if any('"epoch": 2, "step": 10,' in line for line in lines):
            process.kill()
            break
        time.sleep(0.002)
    process.wait()
    assert process.returncode == -9
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = archc_cli("train", "lenet5", "--data", "digits", "--resume", run, "-q")
    assert resumed.returncode == 0, resumed.stderr
    ours, theirs = weights(run), weights(tmp_path / "whole")
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    again = archc_cli("train", "lenet5", "--data", "digits", "--resume", run)
    assert again.returncode == 2 and "has finished its 3 epochs" in again.stderr
    assert "--epochs N (more than 3)" in again.stderr


def test_a_checkpoint_is_data_read_without_unpickling(tmp_path):
    state = {"epoch": 1, "model": {"w": torch.ones(2)}, "spec": "network x input 1x1x1\n",
             "spec_sha256": checkpoint.spec_digest("network x input 1x1x1\n"),
             "optimizer": {}, "scheduler": {}, "rng": {}, "network": "x", "recipe": {},
             "classes": ["a", "b"], "seed": 0}
    checkpoint.save(tmp_path / "c.pt", state)
    assert checkpoint.load(tmp_path / "c.pt", "network x input 1x1x1\n")["epoch"] == 1

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))
    torch.save({"format": checkpoint.FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(archc.UsageError, match="not a checkpoint archc can read"):
        checkpoint.load(tmp_path / "evil.pt")
    with pytest.raises(archc.UsageError, match="trained from another spec"):
        checkpoint.load(tmp_path / "c.pt", "network y input 1x1x1\n")


# -- many processes ----------------------------------------------------------------------------------


def test_two_processes_take_the_steps_of_one_on_the_same_global_batch(tmp_path):
    """torchrun, 2 CPU processes over loopback (gloo), 8 steps of a global batch of 32:
    the same weights as one process, within float rounding."""
    args = ["train", "lenet5", "--data", "digits", "--epochs", "1", "--max-steps", "8", "-q"]
    one = archc_cli(*args, "-o", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", "29517", "-m", "archc", *args, "-o",
                          str(tmp_path / "two")], capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr
    ours, theirs = weights(tmp_path / "two"), weights(tmp_path / "one")
    for key in theirs:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-5, atol=1e-6)
    odd = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", "29518", "-m", "archc", *args, "--batch", "33",
                          "-o", str(tmp_path / "odd")], capture_output=True, text=True,
                         timeout=600)
    assert odd.returncode != 0 and "a batch of 33 does not divide among 2 processes" in odd.stderr


# -- the recipe's pieces -----------------------------------------------------------------------------


def test_the_papers_update_rule_agrees_until_the_learning_rate_changes():
    """AlexNet §5: v ← μv − ελw − ε∇, w ← w + v.  PyTorch: b ← μb + ∇ + λw, w ← w − εb.
    With ε constant v = −εb and the steps agree; after ε1 → ε2 the paper's next step is
    μv − ε2(λw + ∇) where PyTorch's is −ε2(μb + λw + ∇): they differ by exactly
    μ·b·(ε2 − ε1)."""
    torch.manual_seed(0)
    start = torch.randn(5)
    grads = [torch.randn(5) for _ in range(4)]
    mu, decay, lr1, lr2 = 0.9, 5e-4, 0.01, 0.001
    ours = torch.nn.Parameter(start.clone())
    theirs = torch.nn.Parameter(start.clone())
    paper = optim.PaperSGD([ours], lr=lr1, momentum=mu, weight_decay=decay)
    torch_sgd = torch.optim.SGD([theirs], lr=lr1, momentum=mu, weight_decay=decay)
    for g in grads[:3]:
        for p, o in ((ours, paper), (theirs, torch_sgd)):
            p.grad = g.clone()
            o.step()
        torch.testing.assert_close(ours.data, theirs.data, rtol=0, atol=1e-7)
    buffer = torch_sgd.state[theirs]["momentum_buffer"].clone()
    before = theirs.data.clone()
    for o in (paper, torch_sgd):
        o.param_groups[0]["lr"] = lr2
    for p, o in ((ours, paper), (theirs, torch_sgd)):
        p.grad = grads[3].clone()
        o.step()
    expected = before - lr2 * (mu * buffer + decay * before + grads[3])
    torch.testing.assert_close(theirs.data, expected)
    torch.testing.assert_close(ours.data - theirs.data, mu * buffer * (lr2 - lr1), rtol=1e-4,
                               atol=1e-8)
    assert (ours.data - theirs.data).abs().max() > 1e-6


def test_every_bundled_spec_states_a_recipe():
    """Each says where its recipe comes from — or, where archc cannot state it yet (a
    cosine schedule, RMSProp), that it has none and why."""
    without = []
    for path in sorted((ROOT / "specs").glob("*.arch")):
        net, text = archc.analyze(path), path.read_text()
        if net.recipe is None:
            said = text.replace("\n# ", " ")  # the comment as one paragraph
            assert re.search(r"No training recipe: [^.]*(cosine|RMSProp|linear)", said), \
                path.name
            without.append(path.stem)
        else:
            assert "# The recipe" in text, path.name
    families = ("regnet", "mobilenet_v3", "mnasnet", "efficientnet", "shufflenet", "squeezenet")
    assert all(name.startswith(families) for name in without)


def test_recipes_as_the_papers_state_them():
    alexnet = archc.analyze("alexnet").recipe
    assert (alexnet.optimizer, alexnet.lr, alexnet.momentum, alexnet.weight_decay,
            alexnet.batch, alexnet.update) == ("sgd", 0.01, 0.9, 5e-4, 128, "paper")
    assert alexnet.schedule == ir.Schedule("plateau", factor=0.1, times=3)
    assert alexnet.augment.lighting == 0.1 and alexnet.evaluation.protocol == "ten-crop"
    assert alexnet.augment.mean == "image" and alexnet.augment.resize == 256  # §2
    vgg = archc.analyze("vgg_d").recipe
    assert vgg.batch == 256 and vgg.augment.scale == (256, 512)
    assert vgg.evaluation == ir.Evaluation("dense", scales=(256, 384, 512), flip=True)
    googlenet = archc.analyze("googlenet").recipe
    assert googlenet.schedule == ir.Schedule("step", every=8, factor=0.96)
    assert googlenet.average == "polyak" and googlenet.augment.area == (0.08, 1.0)
    assert googlenet.augment.photometric == 0.5  # Howard's factors, 0.5–1.5
    assert googlenet.evaluation == ir.Evaluation("multi-crop", scales=(256, 288, 320, 352),
                                                 flip=True)


def test_a_list_of_one_may_keep_its_parentheses():
    for written in ("scales=40", "scales=(40)"):  # the second was a syntax error
        net = archc.analyze(TINY.replace("evaluate dense scales=(32, 40) flip",
                                         f"evaluate dense {written} flip"))
        assert net.recipe.evaluation.scales == (40,)


def test_photometric_distortions_are_howards():
    """Brightness, contrast and saturation, each by a factor in [1 − x, 1 + x]."""
    from torchvision.transforms import v2

    from archc.train import data

    net = archc.analyze("googlenet")
    steps = data.training_transform(net, net.recipe.augment, None).transforms
    jitter = [step for step in steps if isinstance(step, v2.ColorJitter)]
    assert len(jitter) == 1
    assert jitter[0].brightness == jitter[0].contrast == jitter[0].saturation == (0.5, 1.5)
    assert jitter[0].hue is None
    plain = data.training_transform(net, ir.Augment(flip=True), None).transforms
    assert not any(isinstance(step, v2.ColorJitter) for step in plain)


# -- the test protocols, against a computation written out here --------------------------------


def _googlenet_crops(image: torch.Tensor, size: int, scales, flip: bool) -> list[torch.Tensor]:
    """GoogLeNet §7, by index arithmetic: at each scale, the left, centre and right
    squares (top, centre, bottom for a portrait image); from each, the four corners, the
    centre and the whole square resized; then the mirror image of every one."""
    import torchvision.transforms.v2.functional as TF

    crops = []
    for q in scales:
        scaled = TF.resize(image, q, antialias=True)  # the shorter side to q
        height, width = scaled.shape[1:]
        longer = max(height, width)
        for start in (0, (longer - q) // 2, longer - q):
            square = (scaled[:, start:start + q, :] if height > width
                      else scaled[:, :, start:start + q])
            assert square.shape[1:] == (q, q)
            far, middle = q - size, (q - size) // 2
            for top, left in ((0, 0), (0, far), (far, 0), (far, far), (middle, middle)):
                crops.append(square[:, top:top + size, left:left + size])
            crops.append(TF.resize(square, [size, size], antialias=True))
    return crops + [crop.flip(-1) for crop in crops] if flip else crops


def test_googlenets_144_crops():
    from archc.train.data import GOOGLENET_SCALES, MultiCrop

    image = torch.rand(3, 300, 400)
    assert MultiCrop((224, 224), GOOGLENET_SCALES, flip=True)(image).shape == (144, 3, 224, 224)
    for height, width in ((40, 64), (70, 40), (30, 30)):  # landscape, portrait, square
        image = torch.rand(3, height, width)
        got = MultiCrop((16, 16), (20, 24), flip=True)(image)
        expected = torch.stack(_googlenet_crops(image, 16, (20, 24), flip=True))
        assert got.shape == (2 * 3 * 6 * 2, 3, 16, 16)
        assert torch.equal(got, expected)
    assert MultiCrop((16, 16), (20,), flip=False)(torch.rand(3, 40, 64)).shape == (18, 3, 16, 16)



def _trained(tiny: Path, images: Path, tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    run = tmp_path / "run"
    done = archc_cli("train", tiny, "--data", images, "-o", run, "-q", "--workers", "0")
    assert done.returncode == 0, done.stderr
    model = archc.load(tiny).Model(num_classes=3, init="torch").eval()
    model.load_state_dict(weights(run))
    return run, model


def _pixels(path: Path, mean) -> torch.Tensor:
    from PIL import Image

    import numpy

    image = Image.open(path).convert("RGB")
    tensor = torch.from_numpy(numpy.asarray(image, dtype=numpy.float32)).permute(2, 0, 1) / 255
    return tensor - torch.tensor(mean)[:, None, None]


def test_eval_protocols_against_an_independent_computation(tiny, images, tmp_path):
    import torchvision.transforms.v2.functional as TF

    run, model = _trained(tiny, images, tmp_path)
    mean = _dataset_mean(images / "train")
    files = sorted((images / "val").rglob("*.png"))
    labels = torch.tensor([["blue", "green", "red"].index(f.parent.name) for f in files])
    expected = {"center": [], "ten-crop": [], "multi-crop": [], "dense": []}
    dense = model.dense().eval()
    with torch.no_grad():
        for f in files:
            x = _pixels(f, mean)
            rescaled = TF.resize(x, 37, antialias=True)  # ⌈32 / 0.875⌉
            expected["center"].append(model(TF.center_crop(rescaled, [32, 32])[None]).softmax(1))
            crops = torch.stack(TF.ten_crop(rescaled, [32, 32]))
            expected["ten-crop"].append(model(crops).softmax(1).mean(0, keepdim=True))
            crops = torch.stack(_googlenet_crops(x, 32, (32, 40), flip=True))
            expected["multi-crop"].append(model(crops).softmax(1).mean(0, keepdim=True))
            views = []
            for q in (32, 40):
                scaled = TF.resize(x, q, antialias=True)[None]
                for view in (scaled, scaled.flip(-1)):
                    views.append(dense(view).mean((2, 3)).softmax(1))
            expected["dense"].append(torch.stack(views).mean(0))
    for protocol, outputs in expected.items():
        p = torch.cat(outputs)
        top1 = (p.argmax(1) != labels).float().mean().item()
        loss = F.nll_loss(p.log(), labels).item()
        extra = ["--scales", "32,40", "--flip"] if protocol in ("dense", "multi-crop") else []
        done = archc_cli("eval", tiny, "--weights", run / "checkpoint.pt", "--data", images,
                         "--protocol", protocol, *extra, "-f", "json", "--workers", "0")
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout)
        assert got["images"] == len(files) and got["top1_error"] == pytest.approx(top1)
        assert got["loss"] == pytest.approx(loss, rel=1e-4), protocol


@pytest.fixture(scope="module")
def framed(tmp_path_factory) -> Path:
    """Images whose mean image is far from their mean pixel."""
    return _coloured_images(tmp_path_factory.mktemp("framed") / "data", seed=1,
                            counts=(6, 3), framed=True)


def test_alexnets_mean_image_against_an_independent_computation(framed, tmp_path):
    """AlexNet §2: images made R×R (the shorter side rescaled to R, the central square),
    the training set's mean image taken out, then crops; dense evaluation, whose images
    have no one size, takes out the mean image's mean pixel."""
    import torchvision.transforms.v2.functional as TF

    images = framed

    spec = tmp_path / "centred.arch"
    spec.write_text(TINY.replace("augment scale=32..40 flip lighting=0.1 mean=dataset",
                                 "augment resize=36 flip lighting=0.1 mean=image"))
    run = tmp_path / "run"
    done = archc_cli("train", spec, "--data", images, "-o", run, "-q", "--workers", "0",
                     "--max-steps", "3")
    assert done.returncode == 0, done.stderr
    model = archc.load(spec).Model(num_classes=3, init="torch").eval()
    model.load_state_dict(weights(run))

    def square(path: Path) -> torch.Tensor:  # rescaled as an 8-bit image, as archc does
        from PIL import Image

        rescaled = TF.resize(Image.open(path).convert("RGB"), 36, antialias=True)
        x = TF.to_dtype(TF.to_image(rescaled), torch.float32, scale=True)
        top, left = round((x.shape[1] - 36) / 2), round((x.shape[2] - 36) / 2)
        return x[:, top:top + 36, left:left + 36]

    mean = torch.stack([square(f).double() for f in sorted((images / "train").rglob("*.png"))])
    mean = mean.mean(0).float()
    plain = archc.analyze(TINY.replace("augment scale=32..40 flip lighting=0.1 mean=dataset",
                                       "augment resize=36 mean=image"))
    from archc.train import data

    training = data.load(str(images), plain, plain.recipe, plain.recipe.evaluation).train
    for i in (0, 7, 13):  # a training crop is a window of the centred image
        x, _ = training[i]
        centred = square(Path(training.samples[i][0])) - mean
        assert any(torch.allclose(x, centred[:, top:top + 32, left:left + 32], atol=1e-6)
                   for top in range(5) for left in range(5))
    files = sorted((images / "val").rglob("*.png"))
    labels = torch.tensor([["blue", "green", "red"].index(f.parent.name) for f in files])
    expected = {"center": [], "ten-crop": [], "dense": []}
    with torch.no_grad():
        for f in files:
            centred = square(f) - mean
            expected["center"].append(model(centred[None, :, 2:34, 2:34]).softmax(1))
            crops = torch.stack(TF.ten_crop(centred, [32, 32]))
            expected["ten-crop"].append(model(crops).softmax(1).mean(0, keepdim=True))
            x = _pixels(f, tuple(mean.mean((1, 2)).tolist()))
            expected["dense"].append(model.dense()(TF.resize(x, 40, antialias=True)[None])
                                     .mean((2, 3)).softmax(1))
    for protocol, outputs in expected.items():
        p = torch.cat(outputs)
        extra = ["--scales", "40", "--no-flip"] if protocol == "dense" else []
        done = archc_cli("eval", spec, "--weights", run / "checkpoint.pt", "--data", images,
                         "--protocol", protocol, *extra, "-f", "json", "--workers", "0")
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout)
        assert got["loss"] == pytest.approx(F.nll_loss(p.log(), labels).item(), rel=1e-4), \
            protocol


def test_a_grey_network_trains_on_colour_images(images, tmp_path, run_cli):
    """The images are made grey before their statistics are taken (it was a crash)."""
    grey = TINY.replace("3x32x32", "1x32x32")
    for i, augment in enumerate(("augment resize=36 flip mean=dataset",
                                 "augment resize=36 mean=imagenet std=imagenet",
                                 "augment resize=36 lighting=0.1 mean=image")):
        spec = tmp_path / f"grey{i}.arch"
        spec.write_text(grey.replace("augment scale=32..40 flip lighting=0.1 mean=dataset",
                                     augment))
        code, _, err = run_cli("train", spec, "--data", images, "-o", tmp_path / f"r{i}",
                               "--max-steps", "1", "--workers", "0", "-q")
        assert code == 0, err
        assert weights(tmp_path / f"r{i}")["conv1.weight"].shape == (8, 1, 3, 3)


def _dataset_mean(folder: Path) -> tuple[float, float, float]:
    total, count = torch.zeros(3, dtype=torch.float64), 0
    for f in sorted(folder.rglob("*.png")):
        x = _pixels(f, (0.0, 0.0, 0.0)).double()
        total += x.sum((1, 2))
        count += x.shape[1] * x.shape[2]
    return tuple((total / count).tolist())


def test_initialising_from_a_shallower_net(tiny, images, tmp_path, run_cli):
    """VGG §3.1: the layers whose names and shapes match come from the trained net."""
    run, _ = _trained(tiny, images, tmp_path)
    deeper = tmp_path / "deeper.arch"
    deeper.write_text(TINY.replace("network tiny", "network deeper").replace(
        "conv3-16; maxpool", "conv3-16; conv3-16; maxpool"))
    code, _, err = run_cli("train", deeper, "--data", images, "-o", tmp_path / "d",
                           "--init-from", run / "checkpoint.pt", "--max-steps", "1",
                           "--workers", "0")
    assert code == 0, err
    assert ("4 layers taken (conv1, conv2, fc1, fc2); 1 left at their initialisation "
            "(conv3)") in err  # conv3 is new; conv2 reads 8 maps in both, and so on


# -- bad input: a clear error, nothing lost -------------------------------------------------------


def test_bad_data(tiny, images, tmp_path, run_cli):
    code, _, err = run_cli("train", tiny, "--data", tmp_path / "nowhere", "-o", tmp_path / "r")
    assert code == 2 and "no data folder" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    shutil.copytree(images, empty)
    shutil.rmtree(empty / "train" / "red")
    (empty / "train" / "red").mkdir()
    code, _, err = run_cli("train", tiny, "--data", empty, "-o", tmp_path / "r2")
    assert code == 2 and f"`{empty / 'train' / 'red'}` holds no images" in err
    broken = tmp_path / "broken"
    shutil.copytree(images, broken)
    (broken / "train" / "red" / "0.png").write_bytes(b"not an image")
    code, _, err = run_cli("train", tiny, "--data", broken, "-o", tmp_path / "r3",
                           "--workers", "2")
    assert code == 2 and "cannot read the image" in err and "red/0.png" in err
    assert "Traceback" not in err and "worker" not in err  # the worker's message, not its stack
    assert not (tmp_path / "r3" / "checkpoint.pt").exists()


def test_bad_runs_and_recipes(tiny, images, tmp_path, run_cli):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("keep me")
    code, _, err = run_cli("train", tiny, "--data", images, "-o", occupied)
    assert code == 2 and "is not empty" in err and (occupied / "mine.txt").read_text() == "keep me"
    adam = tmp_path / "adam.arch"
    adam.write_text(TINY.replace("train sgd lr=0.05 momentum=0.9", "train adam lr=0.001"))
    code, _, err = run_cli("train", adam, "--data", images, "--momentum", "0.9", "-o",
                           tmp_path / "a")
    assert code == 2 and "Adam, has no momentum" in err
    code, _, err = run_cli("eval", "lenet5", "--weights", tmp_path / "none.pt", "--data", "digits")
    assert code == 2 and "no checkpoint" in err
    code, _, err = run_cli("train", tiny, "--data", images, "-o", tmp_path / "p",
                           "--plot", tmp_path / "curves.jpg")
    assert code == 2 and "cannot plot to" in err
    assert not (tmp_path / "p").exists()  # refused before the run, not after it


def test_torchvision_weights_load_into_the_spec_that_describes_them(monkeypatch, tmp_path):
    import hashlib

    import torchvision.models as models

    from archc.train import weights

    reference = models.resnet18()
    file = tmp_path / "published" / "resnet18.pth"
    file.parent.mkdir()
    torch.save(reference.state_dict(), file)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    named = file.with_name(f"resnet18-{digest[:8]}.pth")  # as torchvision names its files
    file.rename(named)
    published = models.get_model_weights("resnet18").DEFAULT
    monkeypatch.setattr(published.value, "url", named.as_uri())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    found = weights.load("torchvision:resnet18", "")
    assert (tmp_path / "home" / "hub" / "checkpoints" / named.name).is_file()  # downloaded
    named.unlink()
    assert weights.load("torchvision:resnet18", "").state.keys() == found.state.keys()  # cached
    assert len(found.classes) == 1000
    model = archc.build("resnet18")
    weights.apply(model, found, "resnet18")
    torch.testing.assert_close(model.fc.weight, reference.fc.weight)
    with pytest.raises(archc.UsageError, match="does not fit `vgg_d`"):
        weights.apply(archc.build("vgg_d"), found, "vgg_d")
    with pytest.raises(archc.UsageError, match="torchvision has no model `nonet`"):
        weights.load("torchvision:nonet", "")


def test_an_averaged_run_is_evaluated_with_its_average(tiny, images, tmp_path, run_cli):
    """GoogLeNet §6: "Polyak averaging ... for the final model" — validation during the
    run, and `archc eval` after it, use the average, not the last step's weights."""
    from archc.train import weights

    spec = tmp_path / "averaged.arch"
    spec.write_text(TINY.replace("epochs=2", "epochs=1 average=ema decay=0.5"))
    code, _, err = run_cli("train", spec, "--data", images, "-o", tmp_path / "r", "-q",
                           "--workers", "0")
    assert code == 0, err
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    found = weights.load(str(tmp_path / "r" / "checkpoint.pt"), spec.read_text())
    for key, value in found.state.items():
        assert torch.equal(value, state["averaged"][f"module.{key}"])
    assert not all(torch.equal(value, state["model"][key]) for key, value in found.state.items())
