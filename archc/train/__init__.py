"""Training and evaluation: `archc train` and `archc eval` carry out a spec's recipe.

The compiler's public results are all this package uses: the analysed IR (its recipe
among them) and the module archc generates for it.

    from archc.train import Options, train
    run = train(archc.analyze("lenet5"), Options(data="digits"))
"""

from .evaluate import Result, evaluate
from .run import Options, train

__all__ = ["Options", "Result", "evaluate", "train"]
