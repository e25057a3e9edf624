"""archc — a compiler for convolutional-network architecture descriptions.

    >>> import archc
    >>> net = archc.analyze("vgg_d")
    >>> archc.totals(net).params
    138357544

The pipeline: text --parser--> AST --elaborate--> IR --analysis--> annotated IR
--passes--> lowered IR --codegen--> PyTorch module.  Importing archc does not import torch.
"""

from .analysis import Totals, totals
from .api import analyze
from .errors import ArchcError, GeometryError, ParseError, SemanticError, SpecError, UsageError
from .verify import check

__version__ = "0.1.0"

__all__ = ["analyze", "check", "totals", "Totals", "ArchcError", "SpecError", "ParseError",
           "SemanticError", "GeometryError", "UsageError", "__version__"]
