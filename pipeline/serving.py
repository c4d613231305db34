"""The MLflow pyfunc face of every model: a message table in, per-label probabilities out.

Input: a pandas DataFrame with one row per message and at least ``conversation_id`` and
``text`` (optionally ``message_index`` for order, ``author``, ``language``). Output: one row per
input message with ``conversation_id``, ``message_index``, ``p_<label>`` for every label,
``risk`` (the conversation's running risk after that message) and ``alert`` (true on the
message that raises the conversation's first alert).
"""

from __future__ import annotations


def predict_table(model, frame):
    import pandas as pd

    from pipeline.corpus import Conversation, Message

    frame = frame.reset_index(drop=True)
    if "message_index" not in frame:
        frame = frame.assign(message_index=frame.groupby("conversation_id", sort=False).cumcount())
    conversations = []
    for cid, group in frame.groupby("conversation_id", sort=False):
        group = group.sort_values("message_index", kind="stable")
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
    rows = []
    for conversation, prediction in zip(conversations, model.predict(conversations), strict=True):
        for i in range(len(conversation.messages)):
            row = {"conversation_id": conversation.conversation_id, "message_index": i}
            row.update({f"p_{label}": float(prediction.probabilities[i, j]) for j, label in enumerate(model.label_ids)})
            row["risk"] = float(prediction.risk[i])
            row["alert"] = prediction.alert == i
            rows.append(row)
    return pd.DataFrame(rows)
