"""Corpus, chunking, embedders and the Chroma retriever (real Chroma, on disk)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest


def test_bundled_handbook_covers_the_topics() -> None:
    from spanguard.pipeline.corpus import bundled_handbook, read_queries

    documents = bundled_handbook()
    text = " ".join(d.text for d in documents).lower()
    topics = ("annual leave", "remote", "another country", "travel", "expenses", "security", "onboarding")
    for topic in topics:
        assert topic in text
    assert sum(len(d.text.split()) for d in documents) > 2000
    assert len(read_queries()) >= 10


def test_chunks_follow_headings_and_paragraphs() -> None:
    from spanguard.pipeline.chunking import chunk_document
    from spanguard.pipeline.corpus import SourceDocument

    long_paragraph = " ".join(f"Sentence number {i} talks about expenses." for i in range(60))
    text = (
        "# Guide\n\nIntro paragraph.\n\n## Alpha\n\nFirst alpha paragraph.\n\nSecond alpha paragraph.\n\n"
        f"## Beta\n\n{long_paragraph}\n\n### Beta detail\n\nDetail text.\n"
    )
    chunks = chunk_document(SourceDocument("guide.md", text), max_chars=300)

    headings = [c.metadata["heading"] for c in chunks]
    assert headings[0] == "Guide"
    assert "Guide > Alpha" in headings and "Guide > Beta > Beta detail" in headings
    alpha = [c for c in chunks if c.metadata["heading"] == "Guide > Alpha"]
    assert len(alpha) == 1 and alpha[0].text == "First alpha paragraph.\n\nSecond alpha paragraph."
    beta = [c for c in chunks if c.metadata["heading"] == "Guide > Beta"]
    assert len(beta) > 1 and all(len(c.text) <= 300 for c in beta)
    assert all(c.text.endswith(".") for c in beta)  # cut at sentence ends
    assert not any("Detail text" in c.text for c in beta)  # never across a heading
    assert len({c.id for c in chunks}) == len(chunks)
    again = chunk_document(SourceDocument("guide.md", text), max_chars=300)
    assert [c.id for c in again] == [c.id for c in chunks]


def test_read_documents_errors_are_clear(tmp_path: Path) -> None:
    from spanguard.errors import SpanguardError
    from spanguard.pipeline.corpus import read_documents

    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / "bad.md").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.txt").write_text("Hello there.", encoding="utf-8")
    with pytest.raises(SpanguardError, match="no such file"):
        read_documents([tmp_path / "missing.md"])
    with pytest.raises(SpanguardError, match=r"only \.txt and \.md"):
        read_documents([tmp_path / "notes.pdf"])
    with pytest.raises(SpanguardError, match="not UTF-8"):
        read_documents([tmp_path / "bad.md"])
    [document] = read_documents([tmp_path / "ok"])
    assert document.text == "Hello there."


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    from spanguard.pipeline.embedding import Embedder, HashingEmbedder, build_embedder

    embedder = HashingEmbedder()
    assert isinstance(embedder, Embedder)
    first, again, empty = embedder.embed(["annual leave days", "annual leave days", ""])
    assert first == again and len(first) == 512
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-9)
    assert math.isclose(sum(v * v for v in empty), 1.0, rel_tol=1e-9)
    leave, travel = embedder.embed(["how many days of leave", "hotel costs when travelling"])
    query = embedder.embed(["leave days"])[0]

    def similarity(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert similarity(query, leave) > similarity(query, travel)
    assert build_embedder("hashing").name == "hashing"
    assert build_embedder("text-embedding-3-small").name == "text-embedding-3-small"


def test_chroma_retriever_finds_the_right_section(handbook_retriever: object) -> None:
    from spanguard.pipeline.retrieval import ChromaRetriever, Retriever

    assert isinstance(handbook_retriever, ChromaRetriever) and isinstance(handbook_retriever, Retriever)
    documents = handbook_retriever.retrieve("How many days of annual leave do I get?", 3)
    assert len(documents) == 3
    assert documents[0].metadata["heading"].endswith("Annual leave")
    assert documents[0].score >= documents[1].score >= documents[2].score
    assert (handbook_retriever.data_dir / "chroma").is_dir()


def test_ingest_replaces_the_corpus_and_persists(tmp_path: Path) -> None:
    from spanguard.pipeline.corpus import SourceDocument
    from spanguard.pipeline.embedding import HashingEmbedder
    from spanguard.pipeline.retrieval import ChromaRetriever

    retriever = ChromaRetriever(tmp_path / "data", HashingEmbedder())
    retriever.ensure_index()
    assert retriever.count() > 30
    retriever.index_documents([SourceDocument("pets.md", "# Pets\n\nDogs are welcome on Fridays.\n")])
    assert retriever.count() == 1
    reopened = ChromaRetriever(tmp_path / "data", HashingEmbedder())
    assert reopened.retrieve("dogs", 5)[0].content == "Dogs are welcome on Fridays."


def test_env_overrides_are_validated() -> None:
    from spanguard.config.model import PipelineConfig
    from spanguard.errors import ConfigError
    from spanguard.pipeline.runtime import apply_env_overrides

    base = PipelineConfig()
    updated = apply_env_overrides(base, {"SPANGUARD_MODEL": "openai/gpt-4o-mini", "SPANGUARD_TOP_K": "7"})
    assert updated.model == "openai/gpt-4o-mini" and updated.top_k == 7
    assert apply_env_overrides(base, {}) is base
    with pytest.raises(ConfigError, match="SPANGUARD_MAX_STEPS"):
        apply_env_overrides(base, {"SPANGUARD_MAX_STEPS": "0"})


def test_a_running_retriever_sees_a_re_ingested_corpus(tmp_path: Path) -> None:
    """`spanguard ingest` while `spanguard serve` runs replaces the collection under the
    service's handle; the service answers from the new corpus instead of failing."""
    from spanguard.pipeline.corpus import SourceDocument
    from spanguard.pipeline.embedding import HashingEmbedder
    from spanguard.pipeline.retrieval import ChromaRetriever

    serving = ChromaRetriever(tmp_path / "data", HashingEmbedder())
    serving.ensure_index()
    assert serving.retrieve("annual leave days", 1)[0].metadata["source"] == "01_leave.md"

    ingesting = ChromaRetriever(tmp_path / "data", HashingEmbedder())
    ingesting.index_documents([SourceDocument("pets.md", "# Pets\n\nDogs are welcome on Fridays.\n")])

    [found] = serving.retrieve("dogs", 3)
    assert found.content == "Dogs are welcome on Fridays."
    assert serving.count() == 1
