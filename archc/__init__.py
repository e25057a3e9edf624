"""archc — a compiler for convolutional-network architecture descriptions.

    >>> import archc
    >>> net = archc.analyze("vgg_d")
    >>> archc.totals(net).params
    138357544

The pipeline: text --parser--> AST --elaborate--> IR --analysis--> annotated IR
--passes--> lowered IR --codegen--> PyTorch module.  Importing archc does not import torch;
``archc.load``/``archc.build`` import the generated module, which does.

    >>> model = archc.build("vgg_d", num_classes=10)
"""

from .analysis import Totals, totals
from .api import analyze, build, generate, graph, load
from .errors import (ArchcError, GeometryError, ParseError, SemanticError, Source, SpecError,
                     UsageError)
from .verify import check

__version__ = "0.1.0"

__all__ = ["analyze", "build", "check", "generate", "graph", "load", "totals", "Totals", "Source",
           "ArchcError", "SpecError", "ParseError", "SemanticError", "GeometryError", "UsageError",
           "__version__"]
