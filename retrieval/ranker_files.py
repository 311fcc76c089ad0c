"""A learned ranker on disk, without pickles: parameters and document lists as JSON, the
memory's question embeddings as ``.npz``, the scikit-learn model as a ``.skops`` file.

A folder is written under a temporary name and renamed into place, so a reader sees the
whole ranker or none of it.
"""

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import numpy as np

from retrieval.memory import SAME_QUESTION, FeedbackMemory
from retrieval.ranking import LearnedRanker

_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


def save(ranker: LearnedRanker, folder: Path) -> None:
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    params = {
        "version": ranker.version,
        "dense_weight": ranker.dense_weight,
        "threshold": ranker.threshold,
        "strength": ranker.strength,
        "reject_threshold": ranker.reject_threshold,
        "mix": ranker.mix,
        "positives": ranker.memory.positives,
        "negatives": ranker.memory.negatives,
        "terms": ranker.memory.terms,
        "owners": ranker.memory.owners,
        "implicit_weight": ranker.implicit_weight,
        "has_model": ranker.model is not None,
        "libraries": {name: version(name) for name in ("scikit-learn", "numpy", "skops")},
    }
    (staging / "ranker.json").write_text(json.dumps(params))
    memory = ranker.memory
    np.savez(staging / "memory.npz", vectors=memory.vectors.astype(np.float32), weights=memory.weights,
             questions=memory.questions, implicit=memory.implicit)
    if ranker.model is not None:
        import skops.io as sio  # seconds to import: only for a ranker with a model

        sio.dump(ranker.model, staging / "model.skops")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def load(folder: Path) -> LearnedRanker:
    """The ranker saved in ``folder``; the model file may hold only scikit-learn and numpy types."""
    params = json.loads((folder / "ranker.json").read_text())
    with np.load(folder / "memory.npz", allow_pickle=False) as arrays:
        vectors = arrays["vectors"]
        extra = {name: arrays[name] for name in ("weights", "questions", "implicit") if name in arrays}
    model = None
    if params["has_model"]:
        import skops.io as sio

        path = folder / "model.skops"
        untrusted = sio.get_untrusted_types(file=path)
        unsafe = [name for name in untrusted if not name.startswith(_TRUSTED_PREFIXES)]
        if unsafe:
            raise ValueError(f"{path} holds types that are not scikit-learn's: {', '.join(unsafe)}")
        model = sio.load(path, trusted=untrusted)
    return LearnedRanker(
        version=params["version"],
        dense_weight=params["dense_weight"],
        model=model,
        memory=FeedbackMemory(vectors, params["positives"], params["negatives"], params.get("terms", []),
                              params.get("owners", []), **extra),
        threshold=params["threshold"],
        strength=params["strength"],
        reject_threshold=params.get("reject_threshold", SAME_QUESTION),
        mix=params.get("mix", 1.0),
        implicit_weight=params.get("implicit_weight", 1.0),
    )
