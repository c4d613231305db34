"""A content-addressed cache of sentence embeddings, shared by the stages of one machine.

The frozen encoder gives each text the same vector every time, so what one stage embedded
(``train@embed``) the next ones (``ensemble``, every ``evaluate``) need not embed again: on a
2-core CPU the multilingual encoder is the slowest step of the pipeline. Vectors are keyed by
the encoder's identity and the text's SHA-256 and stored as raw float32 bytes in SQLite (no
pickles: nothing in the cache runs as code). The cache only saves time: delete it at will.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def project_cache_dir(cache_dir: str | Path) -> Path | None:
    """``cache_dir`` inside the project (relative paths from the project root: ``$DVC_ROOT`` or
    the folder holding dvc.yaml); None outside a project, where scoring writes no cache."""
    from pipeline.core.paths import REPO_ROOT

    path = Path(cache_dir)
    if path.is_absolute():
        return path
    return REPO_ROOT / path if (REPO_ROOT / "dvc.yaml").is_file() else None


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, directory: str | Path, identity: dict[str, Any], dim: int):
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(directory) / f"embeddings-{digest}.sqlite"
        self.dim = dim
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("create table if not exists vectors (key blob primary key, vector blob not null)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def embed(self, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors for ``texts``: cached ones read back, the others computed and stored."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [_key(t) for t in texts]
        found: dict[bytes, bytes] = {}
        with self._connect() as connection:
            for start in range(0, len(keys), 500):  # SQLite's limit on query parameters
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(connection.execute(f"select key, vector from vectors where key in ({marks})", chunk))
        missing = []
        for i, k in enumerate(keys):
            vector = found.get(k)
            if vector is not None and len(vector) == 4 * self.dim:
                out[i] = np.frombuffer(vector, dtype=np.float32)
            else:
                missing.append(i)
        if missing:
            computed = np.asarray(compute([texts[i] for i in missing]), dtype=np.float32)
            out[missing] = computed
            with self._connect() as connection:
                connection.executemany(
                    "insert or replace into vectors values (?, ?)",
                    [(keys[i], computed[n].tobytes()) for n, i in enumerate(missing)],
                )
        return out
