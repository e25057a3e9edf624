"""Data: an ImageFolder tree or the bundled `digits`, prepared as the recipe says.

* An ImageFolder tree (`DATA/train/CLASS/*.jpg`, `DATA/val/CLASS/*.jpg`), read as
  torchvision.datasets.ImageFolder reads one (the same classes and samples), but walked
  without following a link out of the tree or back into it, opening regular files
  only, and refusing an image too large to decode before decoding it; every unreadable
  image is named in the error.
* ``digits``: scikit-learn's 1,797 handwritten digits (8×8, 16 grey levels), split
  deterministically — the same 20 % of each class, always — into 1,437 training and 360
  test images, scaled up to the network's input.  Real handwriting, on any machine.

Training images go through the recipe's augmentation (torchvision.transforms.v2):
rescaled (`resize`, VGG's `scale` jitter, or GoogLeNet's `area`/`ratio` crops), cropped
at random to the network's input, flipped, distorted (Howard's photometric distortions),
lit (AlexNet's PCA lighting) and centred (`mean`, `std`).  Test images are rescaled and
centre-cropped, ten-cropped, cut into GoogLeNet's 144 crops, or kept whole for dense
evaluation, as the recipe's `evaluate` line says.
"""

from __future__ import annotations

import functools
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .. import ir, limits
from ..errors import UsageError

DIGITS = "digits"

# ImageNet's pixel statistics (torchvision's models) and the eigenvalues and vectors of its
# RGB covariance (as fb.resnet.torch and later reproductions of AlexNet's lighting use).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


class UnreadableImage(Exception):
    """An image file that cannot be decoded; its message is the file's path and why."""

    def error(self) -> UsageError:
        """The error a user sees.  From a worker process, DataLoader hands back this
        exception remade with the worker's whole traceback as its message: its last line
        is the original message."""
        text = str(self)
        if "Original Traceback" in text:
            text = text.rstrip().splitlines()[-1].split(f"{type(self).__name__}: ", 1)[-1]
        return UsageError(f"cannot read the image {text}",
                          hint="remove or replace the file (then --resume a run it stopped)")


def named_failures(loader):
    """The loader's batches; an image that cannot be read ends the run naming the file."""
    try:
        yield from loader
    except UnreadableImage as exc:
        raise exc.error() from None


@dataclass
class Data:
    """The training and test sets, and the class names they share; ``in_memory`` data
    gains nothing from worker processes."""

    train: Dataset | None  # None where only the test set was asked for (`archc eval`)
    test: Dataset
    classes: list[str]
    name: str
    in_memory: bool = False
    skipped: tuple[str, ...] = ()  # what the folder walk left out, and why

    def left_out(self) -> str | None:
        """The note that says what the folder walk left out, or None."""
        if not self.skipped:
            return None
        return (f"note: left out {len(self.skipped):,} entries of {self.name}: "
                f"{self.skipped[0]}" + (", ..." if len(self.skipped) > 1 else ""))


def load(data: str, net: ir.Network, recipe: ir.Recipe, protocol: ir.Evaluation,
         train: bool = True) -> Data:
    """The data ``data`` names, prepared for ``net``'s input as ``recipe`` says; without
    ``train``, the test images alone (an ImageFolder tree then needs only `val/`)."""
    if data == DIGITS:
        return _digits(net)
    return _folder(Path(data), net, recipe, protocol, train)


# -- digits ------------------------------------------------------------------------------------


class _Tensors(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], int(self.labels[i])


def _digits(net: ir.Network) -> Data:
    from ..extras import need

    datasets = need("sklearn.datasets", "train", "the `digits` data")
    digits = datasets.load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    labels = torch.tensor(digits.target)
    channels, height, width = net.input.as_list()
    images = torch.nn.functional.interpolate(images, size=(height, width), mode="bilinear",
                                             align_corners=False).expand(-1, channels, -1, -1)
    images = (images - 0.5) / 0.5  # centred on 0, as LeNet-5's inputs were (−0.1 to 1.175)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for digit in range(10):  # every fifth image of each class, in the file's order
        test[torch.nonzero(labels == digit).flatten()[::5]] = True
    classes = [str(d) for d in range(10)]
    return Data(_Tensors(images[~test].contiguous(), labels[~test]),
                _Tensors(images[test].contiguous(), labels[test]), classes, DIGITS,
                in_memory=True)


# -- an ImageFolder tree -----------------------------------------------------------------------


def _folder(root: Path, net: ir.Network, recipe: ir.Recipe, protocol: ir.Evaluation,
            train: bool) -> Data:
    if not root.is_dir():
        raise UsageError(f"no data folder `{root}`",
                         hint="give an ImageFolder tree (DATA/train/CLASS/*.jpg, "
                              "DATA/val/CLASS/*.jpg) or `digits`")
    load_image = functools.partial(_load_image, side=_largest_side(recipe, protocol))
    parts, skipped = {}, []
    needs_train = train or recipe.augment.mean in ("dataset", "image")
    for split in ("train", "val") if needs_train else ("val",):
        folder = root / split
        if not folder.is_dir():
            if split == "train" and not train:
                raise UsageError(f"`{root}` has no `train` folder, and the recipe's "
                                 f"`mean={recipe.augment.mean}` is the training images' mean",
                                 hint="give the data folder the network was trained on")
            raise UsageError(f"`{root}` has no `{split}` folder",
                             hint="an ImageFolder tree has train/CLASS/*.jpg and val/CLASS/*.jpg")
        classes, samples, left_out = _walk(folder)
        skipped += left_out
        if not samples:
            raise UsageError(f"`{folder}` holds no images",
                             hint="each class is a folder of images (.jpg, .png, ...), none "
                                  "of them empty")
        parts[split] = _Images(classes, samples, load_image)
    test = parts["val"]
    if needs_train and parts["train"].classes != test.classes:
        missing = sorted(set(parts["train"].classes) ^ set(test.classes))
        raise UsageError(f"`{root}`'s train and val folders have different classes: "
                         + ", ".join(missing[:5]))
    mean = _mean(net, recipe.augment, parts.get("train"), load_image)
    if train:
        parts["train"].transform = training_transform(net, recipe.augment, mean)
    test.transform = test_transform(net, recipe.augment, protocol, mean)
    return Data(parts["train"] if train else None, test, test.classes, str(root),
                skipped=tuple(skipped))


class _Images(Dataset):
    """Images and their class indices, as torchvision's ImageFolder gives them (the same
    classes, sorted; the same samples), found by :func:`_walk` instead of ``os.walk``."""

    def __init__(self, classes: list[str], samples: list[tuple[str, int]], loader):
        self.classes, self.samples, self.loader = classes, samples, loader
        self.transform = None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, target = self.samples[i]
        image = self.loader(path)
        return (self.transform(image) if self.transform else image), target


def _walk(folder: Path) -> tuple[list[str], list[tuple[str, int]], list[str]]:
    """The classes (sub-folders) of ``folder``, its images (regular files with an image's
    suffix, at any depth) and what was left out.  A link is followed only where it leads
    to a file or a folder inside ``folder`` not already walked: none leads out of the tree
    or back into it (a link to a folder above would make the walk endless), and a pipe, a
    socket or a device is never opened."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    top = folder.resolve()
    skipped: list[str] = []
    classes, samples = [], []
    walked: set[tuple[int, int]] = {_identity(top)}
    for entry in sorted(os.scandir(top), key=lambda e: e.name):
        target = _inside(top, entry, skipped)
        if target is not None and stat.S_ISDIR(target[1].st_mode):
            classes.append(entry.name)
    for index, name in enumerate(classes):
        stack = [top / name]
        while stack:
            here = stack.pop()
            key = _identity(here)
            if key in walked:
                skipped.append(f"{here} (a folder already walked)")
                continue
            walked.add(key)
            try:
                entries = sorted(os.scandir(here), key=lambda e: e.name)
            except OSError as exc:
                raise UsageError(f"cannot read the folder `{here}`: {exc.strerror}") from None
            for entry in reversed(entries):
                target = _inside(top, entry, skipped)
                if target is None:
                    continue
                path, info = target
                if stat.S_ISDIR(info.st_mode):
                    stack.append(path)
                elif not stat.S_ISREG(info.st_mode):
                    skipped.append(f"{entry.path} (not a regular file)")
                elif entry.name.lower().endswith(IMG_EXTENSIONS):
                    samples.append((entry.path, index))
    empty = sorted(set(range(len(classes))) - {index for _, index in samples})
    if empty and samples:
        raise UsageError(f"`{folder / classes[empty[0]]}` holds no images",
                         hint="each class is a folder of images (.jpg, .png, ...), none of "
                              "them empty")
    samples.sort(key=lambda sample: (sample[1], sample[0]))  # by class, as ImageFolder
    return classes, samples, skipped


def _identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _inside(top: Path, entry: os.DirEntry, skipped: list[str]):
    """Where ``entry`` leads — (its real path, its stat) — if that lies inside ``top``; None
    (and a line in ``skipped``) for a link out of the tree or one that leads nowhere."""
    try:
        if not entry.is_symlink():
            return Path(entry.path), entry.stat(follow_symlinks=False)
        real = Path(os.path.realpath(entry.path))
        if not real.is_relative_to(top):
            skipped.append(f"{entry.path} (a link out of the folder)")
            return None
        return real, os.stat(real)
    except OSError:
        skipped.append(f"{entry.path} (a link that leads nowhere)")
        return None


def _largest_side(recipe: ir.Recipe, protocol: ir.Evaluation) -> int:
    """The largest shorter side the recipe rescales an image to, for training or testing."""
    augment = recipe.augment
    return max([augment.resize or 0, augment.scale[1] if augment.scale else 0,
                protocol.resize or 0, *protocol.scales, 256])


def _load_image(path: str, side: int = 0):
    """The image at ``path`` in RGB, refused before its pixels are decoded where it, or it
    rescaled so that its shorter side is ``side``, would have more than
    limits.MAX_IMAGE_PIXELS pixels.  Only a regular file is opened, and without blocking."""
    from PIL import Image

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UnreadableImage(f"{path}: not a regular file")
            image = Image.open(handle)
            width, height = image.size
            short = max(min(width, height), 1)
            scaled = max(side / short, 1.0) ** 2 * width * height
            if max(width * height, scaled) > limits.MAX_IMAGE_PIXELS:
                what = (f"{width:,}×{height:,} pixels" if width * height > limits.MAX_IMAGE_PIXELS
                        else f"{width:,}×{height:,} pixels, {scaled:,.0f} once rescaled to "
                             f"a shorter side of {side}")
                raise UnreadableImage(f"{path}: it has {what}, more than archc decodes "
                                      f"({limits.MAX_IMAGE_PIXELS:,}; "
                                      f"archc.limits.MAX_IMAGE_PIXELS)")
            return image.convert("RGB")
    except UnreadableImage:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure names the file
        raise UnreadableImage(f"{path}: {exc}") from None


# -- transforms ----------------------------------------------------------------------------------


class ShorterSide(torch.nn.Module):
    """VGG's scale jittering (§3.1): the image rescaled so its shorter side is S, drawn
    uniformly from [low, high] for each image."""

    def __init__(self, low: int, high: int):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, image):
        from torchvision.transforms.v2 import functional

        side = int(torch.randint(self.low, self.high + 1, ()))
        return functional.resize(image, side, antialias=True)


class Lighting(torch.nn.Module):
    """AlexNet's PCA lighting (§4.1): add Σ αᵢ·λᵢ·pᵢ to every pixel, αᵢ ~ N(0, σ), drawn
    once per image, over the RGB covariance's eigenvectors pᵢ and eigenvalues λᵢ."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma
        self.eigval = torch.tensor(IMAGENET_EIGVAL)
        self.eigvec = torch.tensor(IMAGENET_EIGVEC)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.sigma == 0 or image.shape[-3] != 3:
            return image
        alpha = torch.randn(3) * self.sigma
        shift = self.eigvec @ (alpha * self.eigval)
        return image + shift[:, None, None]


class SubtractImage(torch.nn.Module):
    """AlexNet's centring (§2): the training set's mean image taken out, pixel by pixel."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.image = image

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor - self.image


def _grey(rgb: tuple[float, float, float]) -> tuple[float]:
    """A per-channel RGB statistic as one grey channel sees it: ITU-R 601-2 luma, the
    weights of the conversion itself (exact for a mean; for a deviation, its bound)."""
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2],)


def _normalize(net: ir.Network, augment: ir.Augment, mean):
    """The per-channel centring and scaling the recipe asks for (a mean image is taken
    out before cropping, by :class:`SubtractImage`: only the scaling is left here)."""
    from torchvision.transforms import v2

    pixel = mean if isinstance(mean, tuple) else None
    if pixel is None and augment.std == "none":
        return []
    channels = net.input.channels
    std = IMAGENET_STD if augment.std == "imagenet" else (1.0, 1.0, 1.0)
    std = _grey(std) if channels == 1 else std
    return [v2.Normalize(pixel or (0.0,) * channels, std)]


def _mean(net: ir.Network, augment: ir.Augment, train, load_image=_load_image):
    """What to take out of the images: ImageNet's mean pixel, the training set's (a tuple,
    per channel), its mean image (a C×R×R tensor for ``resize=R``), or None.  The
    training set's statistics come from up to 500 of its images, spread evenly."""
    if augment.mean == "imagenet":
        return _grey(IMAGENET_MEAN) if net.input.channels == 1 else IMAGENET_MEAN
    if augment.mean not in ("dataset", "image"):
        return None
    from torchvision.transforms import v2

    convert = v2.Compose((_squared(augment) if augment.mean == "image" else []) + _tensor(net))
    step = max(1, len(train.samples) // 500)
    total, count = 0, 0
    for path, _ in train.samples[::step]:
        try:
            pixels = convert(load_image(path)).double()
        except UnreadableImage as exc:
            raise exc.error() from None
        if augment.mean == "image":
            total, count = total + pixels, count + 1
        else:
            total, count = total + pixels.sum((1, 2)), count + pixels.shape[1] * pixels.shape[2]
    if augment.mean == "image":
        return (total / count).float()
    return tuple((total / count).tolist())


def _squared(augment: ir.Augment) -> list:
    """AlexNet §2: the image made R×R for ``resize=R`` — the shorter side rescaled to R,
    the central square kept — so that one mean image fits them all (``mean=image``)."""
    from torchvision.transforms import v2

    return [v2.Resize(augment.resize, antialias=True), v2.CenterCrop(augment.resize)]


def _size(net: ir.Network) -> tuple[int, int]:
    return net.input.height, net.input.width


def _tensor(net: ir.Network) -> list:
    """The image as a float tensor in [0, 1], made grey first for a one-channel network."""
    from torchvision.transforms import v2

    grey = [v2.Grayscale(1)] if net.input.channels == 1 else []
    return grey + [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def training_transform(net: ir.Network, augment: ir.Augment, mean):
    """The recipe's augmentation of a training image, in the order the module's docstring
    gives; ``mean`` is what :func:`_mean` found to take out."""
    from torchvision.transforms import v2

    size = _size(net)
    image = isinstance(mean, torch.Tensor)
    steps = []
    if image:
        steps += _squared(augment)
    elif augment.area is not None:
        steps.append(v2.RandomResizedCrop(size, scale=augment.area, ratio=augment.ratio,
                                          antialias=True))
    else:
        if augment.scale is not None:
            steps.append(ShorterSide(*augment.scale))
        else:
            steps.append(v2.Resize(augment.resize or max(size), antialias=True))
        steps.append(v2.RandomCrop(size))
    if augment.photometric:  # Howard (2013): factors in [1 - x, 1 + x], in random order
        x = augment.photometric
        steps.append(v2.ColorJitter(brightness=x, contrast=x, saturation=x))
    steps += _tensor(net)
    if image:  # then the random crop, as Caffe takes it: at the same place in the mean
        steps += [SubtractImage(mean), v2.RandomCrop(size)]
    if augment.flip:
        steps.append(v2.RandomHorizontalFlip())
    if augment.lighting:
        steps.append(Lighting(augment.lighting))
    return v2.Compose(steps + _normalize(net, augment, mean))


def test_transform(net: ir.Network, augment: ir.Augment, protocol: ir.Evaluation, mean):
    """Center: rescaled so the crop is 87.5 % of the shorter side (256 for 224, the
    papers' and torchvision's), then the central crop.  Ten-crop: the same rescaling, the
    four corners and the centre, and their mirrors (AlexNet §4.1).  Multi-crop: GoogLeNet's
    144 crops (§7, :class:`MultiCrop`).  Dense: the image as it is; evaluation rescales it
    to each of its scales.  With a mean image (``mean=image``), center and ten-crop take
    their crops from the R×R centred image, as training does; multi-crop and dense, whose
    images have no one size, take out the mean image's mean pixel instead."""
    from torchvision.transforms import v2

    size = _size(net)
    if isinstance(mean, torch.Tensor):
        if protocol.protocol in ("center", "ten-crop"):
            crop = v2.CenterCrop(size) if protocol.protocol == "center" else v2.TenCrop(size)
            return v2.Compose([
                *_squared(augment), *_tensor(net), SubtractImage(mean),
                *_normalize(net, augment, mean), crop,
                *([_Stack()] if protocol.protocol == "ten-crop" else [])])
        mean = tuple(mean.mean((1, 2)).tolist())
    tensor = _tensor(net) + _normalize(net, augment, mean)
    if protocol.protocol == "dense":
        return v2.Compose(tensor)
    if protocol.protocol == "multi-crop":
        return v2.Compose([*tensor, MultiCrop(size, multi_crop_scales(net, protocol),
                                              protocol.flip)])
    resize = protocol.resize or augment.resize or math.ceil(max(size) / 0.875)
    if protocol.protocol == "ten-crop":
        return v2.Compose([v2.Resize(resize, antialias=True), *tensor, v2.TenCrop(size),
                           _Stack()])
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size), *tensor])


class _Stack(torch.nn.Module):
    """TenCrop's tuple of crops as one tensor, crops first."""

    def forward(self, crops) -> torch.Tensor:
        return torch.stack(list(crops))


GOOGLENET_SCALES = (256, 288, 320, 352)
"""GoogLeNet's test scales (§7): the shorter side, for 224×224 crops."""


def multi_crop_scales(net: ir.Network, protocol: ir.Evaluation) -> tuple[int, ...]:
    """The protocol's scales, or GoogLeNet's, in proportion to the network's input."""
    if protocol.scales:
        return protocol.scales
    largest = max(_size(net))
    return tuple(round(q * largest / 224) for q in GOOGLENET_SCALES)


class MultiCrop(torch.nn.Module):
    """GoogLeNet's test crops (§7): the image rescaled so its shorter side is each of the
    ``scales``; the left, centre and right squares of it (top, centre and bottom for a
    portrait image); from each square the four corner crops and the centre crop of the
    network's input size, and the square itself resized to it; with ``flip``, the mirror
    image of each.  Four scales with flips make the paper's 4 × 3 × 6 × 2 = 144 crops,
    stacked crops first."""

    def __init__(self, size: tuple[int, int], scales: tuple[int, ...], flip: bool):
        super().__init__()
        self.size, self.scales, self.flip = size, scales, flip

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional

        crops = []
        for scale in self.scales:
            resized = functional.resize(image, scale, antialias=True)
            height, width = resized.shape[-2:]
            side = min(height, width)
            for start in (0, (max(height, width) - side) // 2, max(height, width) - side):
                top, left = (start, 0) if height > width else (0, start)
                square = resized[..., top:top + side, left:left + side]
                crops += functional.five_crop(square, list(self.size))
                crops.append(functional.resize(square, list(self.size), antialias=True))
        if self.flip:
            crops += [crop.flip(-1) for crop in crops]
        return torch.stack(crops)
