"""The annotation workflow with Label Studio: tasks out, annotations back, agreement, next batch.

- ``tasks``: conversations to Label Studio tasks (one task per conversation), optionally with a
  model's pre-annotations as Label Studio predictions.
- ``labelstudio``: reading a Label Studio JSON export and checking it against the project's
  labeling config (``pipeline.reporting.exports.label_studio_config``); every problem names the task.
- ``imports``: an export back to the conversation format, with every annotator's labels kept
  and ``labels`` set by an adjudication rule; ties, cancelled (skipped) annotations and the
  like go to a review list.
- ``agreement``: Krippendorff's alpha and pairwise Cohen's kappa per label, agreement on
  conversation risk and kind, the messages annotators disagree on.
- ``select``: the next batch by model uncertainty, spread over conversations.

The command line is ``grooming-risk annotate ...`` (``pipeline.cli.annotate``).
"""

from pipeline.annotate.agreement import agreement_report
from pipeline.annotate.config import AnnotateConfig, load_annotate_config
from pipeline.annotate.imports import import_export
from pipeline.annotate.labelstudio import read_export
from pipeline.annotate.select import select_batch
from pipeline.annotate.tasks import conversation_task, export_tasks

__all__ = [
    "AnnotateConfig",
    "agreement_report",
    "conversation_task",
    "export_tasks",
    "import_export",
    "load_annotate_config",
    "read_export",
    "select_batch",
]
