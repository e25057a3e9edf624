"""Data: an ImageFolder tree or the bundled `digits`, prepared as the recipe says.

* An ImageFolder tree (`DATA/train/CLASS/*.jpg`, `DATA/val/CLASS/*.jpg`), read with
  torchvision.datasets.ImageFolder; every unreadable image is named in the error.
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

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .. import ir
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
    """An image file that cannot be decoded; its message is the file's path."""

    def error(self) -> UsageError:
        """The error a user sees."""
        return UsageError(f"cannot read the image {self}",
                          hint="remove or replace the file (then --resume a run it stopped)")


@dataclass
class Data:
    """The training and test sets, and the class names they share; ``in_memory`` data
    gains nothing from worker processes."""

    train: Dataset
    test: Dataset
    classes: list[str]
    name: str
    in_memory: bool = False


def load(data: str, net: ir.Network, recipe: ir.Recipe, protocol: ir.Evaluation) -> Data:
    """The data ``data`` names, prepared for ``net``'s input as ``recipe`` says."""
    if data == DIGITS:
        return _digits(net)
    return _folder(Path(data), net, recipe, protocol)


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


def _folder(root: Path, net: ir.Network, recipe: ir.Recipe, protocol: ir.Evaluation) -> Data:
    from torchvision.datasets import ImageFolder

    if not root.is_dir():
        raise UsageError(f"no data folder `{root}`",
                         hint="give an ImageFolder tree (DATA/train/CLASS/*.jpg, "
                              "DATA/val/CLASS/*.jpg) or `digits`")
    parts = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise UsageError(f"`{root}` has no `{split}` folder",
                             hint="an ImageFolder tree has train/CLASS/*.jpg and val/CLASS/*.jpg")
        try:
            parts[split] = ImageFolder(str(folder), loader=_load_image)
        except (FileNotFoundError, OSError) as exc:
            raise UsageError(f"`{folder}`: {_why(exc)}",
                             hint="each class is a folder of images (.jpg, .png, ...), "
                                  "none of them empty") from None
    if parts["train"].classes != parts["val"].classes:
        missing = sorted(set(parts["train"].classes) ^ set(parts["val"].classes))
        raise UsageError(f"`{root}`'s train and val folders have different classes: "
                         + ", ".join(missing[:5]))
    train, test = parts["train"], parts["val"]
    mean = _mean(net, recipe.augment, train)
    train.transform = training_transform(net, recipe.augment, mean)
    test.transform = test_transform(net, recipe.augment, protocol, mean)
    return Data(train, test, train.classes, str(root))


def _why(exc: OSError) -> str:
    text = str(exc)
    if "Found no valid file" in text or "Couldn't find any class folder" in text:
        return text.split(". Supported")[0].rstrip(".")
    return exc.strerror or text


def _load_image(path: str):
    from PIL import Image

    try:
        with open(path, "rb") as handle:
            image = Image.open(handle)
            return image.convert("RGB")
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


def _mean(net: ir.Network, augment: ir.Augment, train):
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
            pixels = convert(_load_image(path)).double()
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
