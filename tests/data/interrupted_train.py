"""`grooming-risk train`, interrupted after global step N in every process: what a killed job
leaves behind, for tests of resuming under a launcher. Usage (a test helper, not a tool):

    torchrun --standalone --nproc-per-node 2 tests/data/interrupted_train.py N train --model transformer ...
"""

import sys

from pipeline.cli import app
from pipeline.models.transformer import TransformerModel

stop_after = int(sys.argv[1])
original_init = TransformerModel.__init__


def init(self, *args, **kwargs):
    original_init(self, *args, **kwargs)

    def stop(step: int) -> None:
        if step == stop_after:
            raise KeyboardInterrupt

    self.on_step = stop


TransformerModel.__init__ = init
app(sys.argv[2:], prog_name="grooming-risk")
