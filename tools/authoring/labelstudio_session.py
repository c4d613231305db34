"""Put the annotators' labels through a real Label Studio server, as the project's workflow does.

    python tools/authoring/labelstudio_session.py --data data/authored/unlabelled.jsonl \
        --annotations DIR --out-dir data/authored/labelstudio

1. `grooming-risk annotate export` writes one task per conversation of a blind copy of the
   corpus (ids, authors, times and texts only: no kind, label, writer or intended labels; no
   predictions, so no model's suggestions either);
2. a local Label Studio (loopback, private data directory, the project's `labelstudio.xml`)
   gets a project and the tasks through its API; one Label Studio user per annotator seat;
3. each seat's labels (the `<unit>-s1.jsonl` / `<unit>-s2.jsonl` files the annotators wrote:
   per conversation risk, kind, flags and `{message index: [labels]}`) are submitted as that
   user's annotations, one message per region, in Label Studio's own result format;
4. the project is exported as Label Studio JSON (`export.json.gz`, gzip-compressed; the annotate
   commands read it as it is) with `annotators.json` (user id
   -> seat name), ready for `annotate import` and `annotate agreement`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipeline.annotate.server import User, label_studio  # noqa: E402
from pipeline.annotate.tasks import utf16_length  # noqa: E402
from pipeline.data import corpus  # noqa: E402

SEATS = {"s1": "annotator-1", "s2": "annotator-2"}

DRIVER = r"""
import json, sys
from label_studio_sdk import LabelStudio
url, tokens_path, config_path, tasks_path, plan_path, export_path = sys.argv[1:7]
tokens = json.load(open(tokens_path))
clients = {role: LabelStudio(base_url=url, api_key=token, timeout=600) for role, token in tokens.items()}
admin = clients["owner"]
users = {role: client.users.whoami().id for role, client in clients.items()}
project = admin.projects.create(title="authored corpus", label_config=open(config_path, encoding="utf-8").read())
tasks = json.load(open(tasks_path, encoding="utf-8"))
for start in range(0, len(tasks), 100):
    admin.projects.import_tasks(project.id, request=tasks[start:start + 100])
ids = {t.data["conversation_id"]: t.id for t in admin.tasks.list(project=project.id, page_size=100)}
plan = json.load(open(plan_path, encoding="utf-8"))
submitted = 0
for role, items in plan.items():
    for cid, result in items:
        clients[role].annotations.create(ids[cid], result=result)
        submitted += 1
export = b"".join(admin.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True))
open(export_path, "wb").write(export)
print(json.dumps({"users": users, "tasks": len(ids), "annotations": submitted}))
"""


def blind_copy(conversation):
    """What an annotator may see: ids, authors, times and texts."""
    return corpus.Conversation.model_validate(
        {
            "conversation_id": conversation.conversation_id,
            "language": conversation.language,
            "messages": [
                {"message_id": m.message_id, "author": m.author, "time": m.time, "text": m.text}
                for m in conversation.messages
            ],
        }
    )


def results_for(conversation, row: dict) -> list[dict]:
    """One Label Studio annotation result list from an annotator's row."""
    results = []
    for key, labels in sorted(row.get("labels", {}).items(), key=lambda kv: int(kv[0])):
        if not labels:
            continue
        text = conversation.messages[int(key)].text
        results.append({
            "id": f"m{key}", "from_name": "message_labels", "to_name": "dialogue", "type": "paragraphlabels",
            "origin": "manual",
            "value": {"start": str(key), "end": str(key), "startOffset": 0, "endOffset": utf16_length(text),
                      "text": text, "paragraphlabels": labels},
        })  # fmt: skip
    results.append({"id": "risk", "from_name": "risk", "to_name": "dialogue", "type": "choices",
                    "value": {"choices": [str(row["risk"])]}})  # fmt: skip
    if row.get("kind"):
        results.append({"id": "kind", "from_name": "kind", "to_name": "dialogue", "type": "choices",
                        "value": {"choices": [row["kind"]]}})  # fmt: skip
    if row.get("flags"):
        results.append({"id": "flags", "from_name": "flags", "to_name": "dialogue", "type": "choices",
                        "value": {"choices": list(row["flags"])}})  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--annotations", type=Path, required=True, help="folder of <unit>-s1/s2.jsonl files")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument(
        "--labelstudio-python",
        type=Path,
        default=Path(os.environ.get("LABEL_STUDIO_PYTHON", REPO / ".venv-labelstudio/bin/python")),
    )
    args = parser.parse_args()

    conversations = {c.conversation_id: c for c in corpus.read_conversations(args.data)}
    plan: dict[str, list] = {seat: [] for seat in SEATS.values()}
    for path in sorted(args.annotations.glob("u*-s[12].jsonl")):
        seat = SEATS[path.stem.rsplit("-", 1)[1]]
        rows = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["conversation_id"]] = row  # the last line of a conversation counts
        for cid, row in rows.items():
            plan[seat].append((cid, results_for(conversations[cid], row)))
    print({seat: len(items) for seat, items in plan.items()})

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tasks = tmp / "tasks.json"
        blind = tmp / "blind.jsonl"
        corpus.write_conversations(blind, [blind_copy(c) for c in conversations.values()])
        cli = [sys.executable, "-m", "pipeline"]
        subprocess.run([*cli, "annotate", "export", "--data", str(blind), "--out", str(tasks)], check=True)
        subprocess.run([*cli, "schema", "export", "--out", str(tmp / "schema")], check=True)
        users = {"owner": User("owner@example.org", "owner-password-1", "owner-token-0001")}
        users.update({seat: User(f"{seat}@example.org", f"{seat}-password-1", f"{seat}-token-0001")
                      for seat in SEATS.values()})  # fmt: skip
        (tmp / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        (tmp / "tokens.json").write_text(json.dumps({role: u.token for role, u in users.items()}))
        binary = args.labelstudio_python.parent / "label-studio"
        export = tmp / "export.json"
        with label_studio(binary, tmp / "ls", users) as server:
            driver = subprocess.run(
                [str(args.labelstudio_python), "-c", DRIVER, server.url, str(tmp / "tokens.json"),
                 str(tmp / "schema" / "labelstudio.xml"), str(tasks), str(tmp / "plan.json"), str(export)],
                capture_output=True, text=True,
            )  # fmt: skip
        if driver.returncode != 0:
            sys.exit(driver.stderr[-4000:])
        facts = json.loads(driver.stdout.strip().splitlines()[-1])
        packed = args.out_dir / "export.json.gz"
        packed.write_bytes(gzip.compress(export.read_bytes(), mtime=0))
    names = {str(uid): role for role, uid in facts["users"].items() if role in SEATS.values()}
    (args.out_dir / "annotators.json").write_text(json.dumps(names, indent=2) + "\n", encoding="utf-8")
    print(f"{facts['tasks']} tasks, {facts['annotations']} annotations -> {packed}; users {names}")


if __name__ == "__main__":
    main()
