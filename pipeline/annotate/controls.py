"""The names of the Label Studio labeling config's controls: the contract between the config
(``pipeline.reporting.exports.label_studio_config``), the tasks and the import of annotations."""

LS_DIALOGUE = "dialogue"
LS_MESSAGE_LABELS = "message_labels"
LS_RISK = "risk"
LS_KIND = "kind"
LS_FLAGS = "flags"
