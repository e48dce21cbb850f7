"""Retrievers: anything that maps a query to scored passages.

`Retriever` is a protocol (`retrieve(query, top_k)`), so a plain function wrapped in a
class, a remote search service or a test double all plug into the agent. The default is
`ChromaRetriever`: a persistent Chroma collection under the pipeline's data directory,
embedded with an `Embedder` we pass explicitly. Passing it matters: Chroma's implicit
default embedding downloads an ONNX model on first use, which fails offline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from spanguard.errors import SpanguardError
from spanguard.pipeline.chunking import Chunk, chunk_documents
from spanguard.pipeline.corpus import SourceDocument, bundled_handbook
from spanguard.pipeline.embedding import Embedder

COLLECTION_PREFIX = "spanguard_corpus"
# Chroma's add() has a maximum batch size; stay well under it.
_ADD_BATCH = 256


@dataclass(frozen=True)
class RetrievedDocument:
    """A passage as the agent and the RETRIEVER span see it."""

    id: str
    content: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    # The tutorials' retrievers return results with `chunk_id` and `text`; code written
    # against them reads a spanguard retriever's results unchanged.
    @property
    def chunk_id(self) -> str:
        return self.id

    @property
    def text(self) -> str:
        return self.content


@runtime_checkable
class Retriever(Protocol):
    def retrieve(self, query: str, top_k: int) -> list[RetrievedDocument]: ...


def _chroma_embedding_function(embedder: Embedder) -> Any:
    """Adapt an `Embedder` to Chroma's EmbeddingFunction interface (imported lazily)."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class SpanguardEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self, inner: Embedder) -> None:
            self._inner = inner

        def __call__(self, input: Documents) -> Embeddings:
            import numpy as np

            return [np.asarray(v, dtype=np.float32) for v in self._inner.embed(list(input))]

        @staticmethod
        def name() -> str:
            return "spanguard"

        def get_config(self) -> dict[str, Any]:
            return {"embedder": self._inner.name}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> SpanguardEmbeddingFunction:
            from spanguard.pipeline.embedding import build_embedder

            return SpanguardEmbeddingFunction(build_embedder(str(config.get("embedder", "hashing"))))

        def default_space(self) -> Any:
            return "cosine"

    return SpanguardEmbeddingFunction(embedder)


def _collection_name(embedder: Embedder) -> str:
    # one collection per embedder: vectors of different models must never be mixed
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in embedder.name)[:40].strip("-_")
    return f"{COLLECTION_PREFIX}_{safe or 'custom'}"


class ChromaRetriever:
    """Chroma persistent collection + explicit embedder; builds the index on demand."""

    def __init__(self, data_dir: str | os.PathLike[str], embedder: Embedder) -> None:
        import chromadb
        from chromadb.config import Settings

        self.data_dir = Path(data_dir).expanduser()
        self.embedder = embedder
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(self.data_dir / "chroma"),
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )
        except OSError as exc:
            raise SpanguardError(f"cannot use data directory {self.data_dir}: {exc.strerror}") from None
        self._embedding_function = _chroma_embedding_function(embedder)
        self._collection = self._open()

    def _open(self) -> Any:
        return self._client.get_or_create_collection(
            name=_collection_name(self.embedder),
            embedding_function=self._embedding_function,
            metadata={"hnsw:space": "cosine"},
        )

    def _vectors(self, texts: list[str]) -> Any:
        """Embed here rather than inside Chroma: Chroma rewrites the message of any error
        raised in its calls ("... in upsert."), and ours already say what to fix."""
        return self._embedding_function(texts)

    def count(self) -> int:
        """Passages indexed; reopens the collection if another process replaced it
        (`spanguard ingest` while `serve` runs leaves this handle on a deleted collection)."""
        from chromadb.errors import NotFoundError

        try:
            return int(self._collection.count())
        except NotFoundError:
            self._collection = self._open()
            return int(self._collection.count())

    def index_chunks(self, chunks: Sequence[Chunk], *, replace: bool = True) -> int:
        """Index chunks; `replace` drops what was there first (ingest means "this corpus")."""
        if replace:
            self._client.delete_collection(_collection_name(self.embedder))
            self._collection = self._open()
        for start in range(0, len(chunks), _ADD_BATCH):
            batch = chunks[start : start + _ADD_BATCH]
            self._collection.upsert(
                ids=[c.id for c in batch],
                documents=[c.text for c in batch],
                embeddings=self._vectors([c.text for c in batch]),
                metadatas=[dict(c.metadata) for c in batch],
            )
        return len(chunks)

    def index_documents(self, documents: Sequence[SourceDocument], *, replace: bool = True) -> int:
        return self.index_chunks(chunk_documents(documents), replace=replace)

    def ensure_index(self, documents: Sequence[SourceDocument] | None = None) -> int:
        """Index `documents` (default: the bundled handbook) if the collection is empty."""
        if self.count() == 0:
            self.index_documents(documents if documents is not None else bundled_handbook())
        return self.count()

    def retrieve(self, query: str, top_k: int) -> list[RetrievedDocument]:
        available = self.count()
        if available == 0:
            return []
        result = self._collection.query(
            query_embeddings=self._vectors([query]),
            n_results=min(top_k, available),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        documents = (result.get("documents") or [[]])[0] or []
        metadatas = (result.get("metadatas") or [[]])[0] or []
        distances = (result.get("distances") or [[]])[0] or []
        return [
            RetrievedDocument(
                id=doc_id,
                content=str(text),
                score=round(1.0 - float(distance), 6),
                metadata=dict(metadata or {}),
            )
            for doc_id, text, metadata, distance in zip(ids, documents, metadatas, distances, strict=False)
        ]
