"""The MLflow pyfunc face of every model: a message table in, per-label probabilities out.

This is also the contract for models from elsewhere: any MLflow pyfunc model that answers the
same input with (at least) the ``p_<label>`` columns can be evaluated and benchmarked like the
project's own (``pipeline.models.external``; ``grooming-risk benchmark --model <uri>``).

Input: a pandas DataFrame (over HTTP: ``{"dataframe_split": {"columns": [...], "data": [...]}}``
or ``{"dataframe_records": [...]}``) with one row per message:

- ``conversation_id`` (required): messages of one conversation share it; conversations may be
  interleaved;
- ``text`` (required): the message;
- ``message_index`` (optional): order within the conversation (default: row order);
- ``author`` (optional), ``language`` (optional ISO 639-1 code, read from a conversation's first
  row), ``timestamp`` (optional; the project's models ignore it).

Output: one row per input row, in the input's order, with ``conversation_id``, ``message_index``,
``p_<label>`` for every label of the schema (the probability, in [0, 1], that the message shows
that behaviour), ``risk`` (the conversation's running risk after that message, in [0, 1]) and
``alert`` (true on the message that raises the conversation's first alert). Each message is
scored with the conversation's earlier messages as context, as in evaluation; send whole
conversations. External models need only the ``p_<label>`` columns (one row per input row, same
order, or keyed by ``conversation_id`` and ``message_index``); extra columns are ignored, and
thresholds, risk and alerts are computed by the shared code.
"""

from __future__ import annotations


def predict_table(model, frame):
    import pandas as pd

    from pipeline.data.corpus import Conversation, Message

    frame = frame.reset_index(drop=True)
    if "message_index" not in frame:
        frame = frame.assign(message_index=frame.groupby("conversation_id", sort=False).cumcount())
    conversations, positions = [], []
    for cid, group in frame.groupby("conversation_id", sort=False):
        group = group.sort_values("message_index", kind="stable")
        positions.append(group.index.tolist())
        language = group["language"].iloc[0] if "language" in group else None
        conversations.append(
            Conversation(
                conversation_id=str(cid),
                language=language if isinstance(language, str) else None,
                messages=[
                    Message(author=str(row.get("author", "?")), text=str(row["text"]))
                    for row in group.to_dict("records")
                ],
            )
        )
    rows: list[dict] = [{} for _ in range(len(frame))]
    for conversation, prediction, where in zip(conversations, model.predict(conversations), positions, strict=True):
        for i, position in enumerate(where):
            row = {
                "conversation_id": conversation.conversation_id,
                "message_index": int(frame.at[position, "message_index"]),
            }
            row.update({f"p_{label}": float(prediction.probabilities[i, j]) for j, label in enumerate(model.label_ids)})
            row["risk"] = float(prediction.risk[i])
            row["alert"] = prediction.alert == i
            rows[position] = row
    return pd.DataFrame(rows)
