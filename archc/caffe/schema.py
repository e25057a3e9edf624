"""What Caffe's `caffe.proto` says a network definition may hold: every message archc
reads, its fields and their types — and so what a definition may not hold.

:func:`check` walks a parsed definition against it before anything else reads it: a
field the message does not have (`kernal_size: 3`), a value of the wrong type (a string
where a number belongs, `1e999` for a uint32), a non-repeated field given twice, an enum
value the enum lacks — each an error at its place, as Caffe's own reader would refuse the
file.  Booleans are made `true` or `false` (the text format also writes `True`, `t`, `1`).

The parameters of layers archc does not import (``data_param``, ``crop_param``, ...) are
known by name, their contents not read: such a layer is either left out (a data layer, a
loss) or refused by its type.  One field of a fork is known, because it changes shapes:
DenseNet-Caffe's ``ceil_mode`` in ``pooling_param`` (false: round down), honoured.
"""

from __future__ import annotations

import difflib
import math
import re

from ..errors import Note, ParseError
from .prototxt import Message, Value

# Scalar types, and how a value is written for each.
STRING, BOOL, FLOAT = "string", "bool", "float"
UINT32, UINT64, INT32, INT64 = "uint32", "uint64", "int32", "int64"
_RANGES = {UINT32: (0, 2 ** 32 - 1), UINT64: (0, 2 ** 64 - 1), INT32: (-2 ** 31, 2 ** 31 - 1),
           INT64: (-2 ** 63, 2 ** 63 - 1)}
_TRUE, _FALSE = {"true", "True", "t", "1"}, {"false", "False", "f", "0"}
_INTEGER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|[0-9]+)")


class Enum(tuple):
    """An enum type: the names it has."""


class Repeated(tuple):
    """``Repeated((type,))``: a field that may be given any number of times."""


def repeated(kind) -> Repeated:
    return Repeated((kind,))


OPAQUE = "opaque"
"""A message whose contents archc does not read (the parameters of a layer it leaves out
or refuses)."""

ENGINE = Enum(("DEFAULT", "CAFFE", "CUDNN"))
PHASE = Enum(("TRAIN", "TEST"))
V1_TYPES = Enum((
    "NONE", "ABSVAL", "ACCURACY", "ARGMAX", "BNLL", "CONCAT", "CONTRASTIVE_LOSS", "CONVOLUTION",
    "DATA", "DECONVOLUTION", "DROPOUT", "DUMMY_DATA", "EUCLIDEAN_LOSS", "ELTWISE", "EXP",
    "FLATTEN", "HDF5_DATA", "HDF5_OUTPUT", "HINGE_LOSS", "IM2COL", "IMAGE_DATA",
    "INFOGAIN_LOSS", "INNER_PRODUCT", "LRN", "MEMORY_DATA", "MULTINOMIAL_LOGISTIC_LOSS", "MVN",
    "POOLING", "POWER", "RELU", "SIGMOID", "SIGMOID_CROSS_ENTROPY_LOSS", "SILENCE", "SOFTMAX",
    "SOFTMAX_LOSS", "SPLIT", "SLICE", "TANH", "WINDOW_DATA", "THRESHOLD"))

# The parameter messages of layers archc reads, by the field that holds them.
_LAYER_PARAMS = {
    "transform_param": "TransformationParameter", "loss_param": "LossParameter",
    "accuracy_param": "AccuracyParameter", "batch_norm_param": "BatchNormParameter",
    "concat_param": "ConcatParameter", "convolution_param": "ConvolutionParameter",
    "dropout_param": "DropoutParameter", "eltwise_param": "EltwiseParameter",
    "inner_product_param": "InnerProductParameter", "input_param": "InputParameter",
    "lrn_param": "LRNParameter", "pooling_param": "PoolingParameter",
    "relu_param": "ReLUParameter", "scale_param": "ScaleParameter",
    "sigmoid_param": "SigmoidParameter", "softmax_param": "SoftmaxParameter",
    "tanh_param": "TanHParameter",
}
# Those of the layers it does not: known by name, their contents not read.
_OTHER_PARAMS = (
    "argmax_param bias_param clip_param contrastive_loss_param crop_param data_param "
    "dummy_data_param elu_param embed_param exp_param flatten_param hdf5_data_param "
    "hdf5_output_param hinge_loss_param image_data_param infogain_loss_param log_param "
    "memory_data_param mvn_param parameter_param power_param prelu_param python_param "
    "recurrent_param reduction_param reshape_param spp_param slice_param swish_param "
    "threshold_param tile_param window_data_param").split()
_V1_PARAMS = (
    "accuracy_param argmax_param concat_param contrastive_loss_param convolution_param "
    "data_param dropout_param dummy_data_param eltwise_param exp_param hdf5_data_param "
    "hdf5_output_param hinge_loss_param image_data_param infogain_loss_param "
    "inner_product_param lrn_param memory_data_param mvn_param pooling_param power_param "
    "relu_param sigmoid_param softmax_param slice_param tanh_param threshold_param "
    "window_data_param transform_param loss_param").split()
_RULE = repeated("NetStateRule")

MESSAGES: dict[str, dict[str, object]] = {
    "NetParameter": {
        "name": STRING, "input": repeated(STRING), "input_shape": repeated("BlobShape"),
        "input_dim": repeated(INT64), "force_backward": BOOL, "state": "NetState",
        "debug_info": BOOL, "layer": repeated("LayerParameter"),
        "layers": repeated("V1LayerParameter")},
    "LayerParameter": {
        "name": STRING, "type": STRING, "bottom": repeated(STRING), "top": repeated(STRING),
        "phase": PHASE, "loss_weight": repeated(FLOAT), "param": repeated("ParamSpec"),
        "blobs": repeated("BlobProto"), "propagate_down": repeated(BOOL),
        "include": _RULE, "exclude": _RULE,
        **_LAYER_PARAMS, **{name: OPAQUE for name in _OTHER_PARAMS}},
    "V1LayerParameter": {
        "bottom": repeated(STRING), "top": repeated(STRING), "name": STRING,
        "include": _RULE, "exclude": _RULE, "type": V1_TYPES, "blobs": repeated("BlobProto"),
        "param": repeated(STRING), "blob_share_mode": repeated(Enum(("STRICT", "PERMISSIVE"))),
        "blobs_lr": repeated(FLOAT), "weight_decay": repeated(FLOAT),
        "loss_weight": repeated(FLOAT), "layer": OPAQUE,
        **{name: _LAYER_PARAMS.get(name, OPAQUE) for name in _V1_PARAMS}},
    "ParamSpec": {"name": STRING, "share_mode": Enum(("STRICT", "PERMISSIVE")),
                  "lr_mult": FLOAT, "decay_mult": FLOAT},
    "BlobShape": {"dim": repeated(INT64)},
    "BlobProto": {"shape": "BlobShape", "data": repeated(FLOAT), "diff": repeated(FLOAT),
                  "double_data": repeated(FLOAT), "double_diff": repeated(FLOAT),
                  "num": INT32, "channels": INT32, "height": INT32, "width": INT32},
    "NetState": {"phase": PHASE, "level": INT32, "stage": repeated(STRING)},
    "NetStateRule": {"phase": PHASE, "min_level": INT32, "max_level": INT32,
                     "stage": repeated(STRING), "not_stage": repeated(STRING)},
    "FillerParameter": {"type": STRING, "value": FLOAT, "min": FLOAT, "max": FLOAT,
                        "mean": FLOAT, "std": FLOAT, "sparse": INT32,
                        "variance_norm": Enum(("FAN_IN", "FAN_OUT", "AVERAGE"))},
    "TransformationParameter": {"scale": FLOAT, "mirror": BOOL, "crop_size": UINT32,
                                "mean_file": STRING, "mean_value": repeated(FLOAT),
                                "force_color": BOOL, "force_gray": BOOL},
    "LossParameter": {"ignore_label": INT32,
                      "normalization": Enum(("FULL", "VALID", "BATCH_SIZE", "NONE")),
                      "normalize": BOOL},
    "AccuracyParameter": {"top_k": UINT32, "axis": INT32, "ignore_label": INT32},
    "ConvolutionParameter": {
        "num_output": UINT32, "bias_term": BOOL, "pad": repeated(UINT32),
        "kernel_size": repeated(UINT32), "stride": repeated(UINT32),
        "dilation": repeated(UINT32), "pad_h": UINT32, "pad_w": UINT32, "kernel_h": UINT32,
        "kernel_w": UINT32, "stride_h": UINT32, "stride_w": UINT32, "group": UINT32,
        "weight_filler": "FillerParameter", "bias_filler": "FillerParameter",
        "engine": ENGINE, "axis": INT32, "force_nd_im2col": BOOL},
    "PoolingParameter": {
        "pool": Enum(("MAX", "AVE", "STOCHASTIC")), "pad": UINT32, "pad_h": UINT32,
        "pad_w": UINT32, "kernel_size": UINT32, "kernel_h": UINT32, "kernel_w": UINT32,
        "stride": UINT32, "stride_h": UINT32, "stride_w": UINT32, "engine": ENGINE,
        "global_pooling": BOOL, "round_mode": Enum(("CEIL", "FLOOR")),
        "ceil_mode": BOOL},  # DenseNet-Caffe's fork: false rounds down
    "InnerProductParameter": {"num_output": UINT32, "bias_term": BOOL,
                              "weight_filler": "FillerParameter",
                              "bias_filler": "FillerParameter", "axis": INT32,
                              "transpose": BOOL},
    "LRNParameter": {"local_size": UINT32, "alpha": FLOAT, "beta": FLOAT,
                     "norm_region": Enum(("ACROSS_CHANNELS", "WITHIN_CHANNEL")), "k": FLOAT,
                     "engine": ENGINE},
    "DropoutParameter": {"dropout_ratio": FLOAT},
    "ReLUParameter": {"negative_slope": FLOAT, "engine": ENGINE},
    "SigmoidParameter": {"engine": ENGINE},
    "TanHParameter": {"engine": ENGINE},
    "SoftmaxParameter": {"engine": ENGINE, "axis": INT32},
    "ConcatParameter": {"axis": INT32, "concat_dim": UINT32},
    "EltwiseParameter": {"operation": Enum(("PROD", "SUM", "MAX")), "coeff": repeated(FLOAT),
                         "stable_prod_grad": BOOL},
    "BatchNormParameter": {"use_global_stats": BOOL, "moving_average_fraction": FLOAT,
                           "eps": FLOAT},
    "ScaleParameter": {"axis": INT32, "num_axes": INT32, "filler": "FillerParameter",
                       "bias_term": BOOL, "bias_filler": "FillerParameter"},
    "InputParameter": {"shape": repeated("BlobShape")},
}


def check(top: Message) -> None:
    """Refuse what `caffe.proto` does not allow in ``top``, a NetParameter (see the module
    docstring); every message checked gets its ``type``."""
    stack = [(top, "NetParameter", "the file")]
    while stack:
        message, kind, where = stack.pop()
        message.type = kind
        fields = MESSAGES[kind]
        seen: dict[str, object] = {}
        for f in message.fields:
            declared = fields.get(f.name)
            if declared is None:
                raise _unknown(f, kind, where, fields)
            many = isinstance(declared, Repeated)
            declared = declared[0] if many else declared
            if not many and f.name in seen:
                raise ParseError(f"`{f.name}` is given twice in {where}", f.loc,
                                 hint=f"Caffe's {kind} has one `{f.name}`",
                                 notes=[Note("first given here", seen[f.name])])
            seen[f.name] = f.loc
            if isinstance(declared, str) and (declared in MESSAGES or declared == OPAQUE):
                if not isinstance(f.value, Message):
                    raise ParseError(f"`{f.name}` is a message: `{f.name} {{ ... }}`, not "
                                     f"`{f.name}: {_shown(f.value)}`", f.value.loc)
                if declared != OPAQUE:
                    stack.append((f.value, declared, f"`{f.name}`"))
                continue
            if isinstance(f.value, Message):
                raise ParseError(f"`{f.name}` takes {_wanted(declared)}, not a message", f.loc)
            _scalar(f.name, f.value, declared)


def _unknown(f, kind: str, where: str, fields: dict) -> ParseError:
    close = difflib.get_close_matches(f.name, list(fields), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif kind in ("LayerParameter", "V1LayerParameter") and f.name.endswith("_param"):
        hint = "a layer's parameters are one of Caffe's `..._param` messages"
    else:
        hint = f"Caffe's {kind} has " + ", ".join(f"`{name}`" for name in list(fields)[:12]) \
               + (", ..." if len(fields) > 12 else "")
    return ParseError(f"`{f.name}` is not a field of {where} (Caffe's {kind})", f.loc, hint=hint)


def _scalar(name: str, value: Value, kind) -> None:
    """Check one scalar against its declared type; a bool is made `true` or `false`."""
    text = value.text
    if isinstance(kind, Enum):
        if value.kind != "word" or text not in kind:
            raise ParseError(f"`{name}` is one of {', '.join(kind)}, not `{_shown(value)}`",
                             value.loc)
    elif kind == STRING:
        if value.kind != "string":
            raise ParseError(f"`{name}` takes a quoted string, not `{text}`", value.loc,
                             hint=f'e.g. {name}: "{text}"')
    elif kind == BOOL:
        if value.kind == "string" or text not in _TRUE | _FALSE:
            raise ParseError(f"`{name}` is true or false, not `{_shown(value)}`", value.loc)
        value.text = "true" if text in _TRUE else "false"
    elif kind == FLOAT:
        if value.kind != "number" or not math.isfinite(value.number()):
            raise ParseError(f"`{name}` takes a number, not `{_shown(value)}`", value.loc)
    else:
        low, high = _RANGES[kind]
        whole = _INTEGER.fullmatch(text) if value.kind == "number" else None
        number = int(text, 16 if whole and "x" in text.lower() else 10) if whole else None
        if number is None or not low <= number <= high:
            raise ParseError(f"`{name}` takes a whole number from {low:,} to {high:,} "
                             f"(a {kind}), not `{_shown(value)}`", value.loc)


def _wanted(kind) -> str:
    if isinstance(kind, Enum):
        return "one of " + ", ".join(kind)
    return {STRING: "a quoted string", BOOL: "true or false", FLOAT: "a number"}.get(
        kind, "a whole number")


def _shown(value) -> str:
    if isinstance(value, Message):
        return "{ ... }"
    text = value.text if value.kind != "string" else f'"{value.text}"'
    return text if len(text) <= 40 else text[:37] + "..."
