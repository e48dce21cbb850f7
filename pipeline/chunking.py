"""Split documents into retrievable chunks along headings and paragraphs.

A chunk never spans two sections, so a retrieved passage carries one heading's meaning
and the heading travels with it as metadata (what the answer cites). Long sections are
packed paragraph by paragraph up to `max_chars`; only a single paragraph longer than
that is cut, at sentence boundaries where it can be.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from spanguard.pipeline.corpus import SourceDocument

DEFAULT_MAX_CHARS = 900
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    """A passage to index: stable id, text, and where it came from."""

    id: str
    text: str
    metadata: dict[str, str | int] = field(default_factory=dict)


def _sections(text: str) -> Iterator[tuple[list[str], str]]:
    """Yield (heading path, section body) pairs in document order."""
    path: list[str] = []
    body: list[str] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            if "".join(body).strip():
                yield list(path), "\n".join(body)
            body = []
            level = len(match.group(1))
            path = [*path[: level - 1], match.group(2)]
        else:
            body.append(line)
    if "".join(body).strip():
        yield list(path), "\n".join(body)


def _paragraphs(body: str) -> list[str]:
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", body) if part.strip()]


def _split_long(paragraph: str, max_chars: int) -> Iterator[str]:
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > max_chars:  # one enormous sentence: hard cut
            if current:
                yield current
                current = ""
            yield sentence[:max_chars]
            sentence = sentence[max_chars:]
        if current and len(current) + 1 + len(sentence) > max_chars:
            yield current
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        yield current


def _pack(paragraphs: Iterable[str], max_chars: int) -> Iterator[str]:
    current = ""
    for paragraph in paragraphs:
        pieces = [paragraph] if len(paragraph) <= max_chars else list(_split_long(paragraph, max_chars))
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > max_chars:
                yield current
                current = piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current:
        yield current


def chunk_document(document: SourceDocument, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Chunks of one document; ids are content hashes so re-ingesting is idempotent."""
    if max_chars < 80:
        raise ValueError("max_chars must be at least 80")
    chunks: list[Chunk] = []
    for path, body in _sections(document.text):
        heading = " > ".join(path)
        for text in _pack(_paragraphs(body), max_chars):
            digest = hashlib.sha256(f"{document.source}\0{heading}\0{text}".encode()).hexdigest()[:16]
            chunks.append(
                Chunk(
                    id=f"{document.source}#{len(chunks)}-{digest}",
                    text=text,
                    metadata={"source": document.source, "heading": heading, "position": len(chunks)},
                )
            )
    return chunks


def chunk_documents(documents: Iterable[SourceDocument], max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    return [chunk for document in documents for chunk in chunk_document(document, max_chars)]
