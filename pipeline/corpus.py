"""Where the pipeline's documents and benchmark questions come from.

The bundled handbook (`data/handbook/*.md`) is sample data written for spanguard, so the
reference workload runs offline on a fresh install; `spanguard ingest PATH...` swaps in
the user's own `.txt` / `.md` files through `read_documents`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from spanguard.errors import SpanguardError

DOCUMENT_SUFFIXES = (".md", ".txt")
# A single document larger than this is almost certainly not a text file meant for a
# handbook; refusing it is clearer than indexing megabytes of noise.
MAX_DOCUMENT_BYTES = 5 * 1000**2


@dataclass(frozen=True)
class SourceDocument:
    """One file's text and the name it is cited by."""

    source: str
    text: str


def _data_dir() -> Path:
    return Path(str(resources.files("spanguard.pipeline") / "data"))


def bundled_handbook() -> list[SourceDocument]:
    """The handbook shipped in the package, in chapter order."""
    folder = _data_dir() / "handbook"
    return [
        SourceDocument(source=path.name, text=path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.md"))
    ]


def bundled_queries_path() -> Path:
    return _data_dir() / "queries.txt"


def read_queries(path: str | os.PathLike[str] | None = None) -> list[str]:
    """Benchmark questions, one a line; blank lines and `#` comments are skipped."""
    query_path = Path(path) if path is not None else bundled_queries_path()
    try:
        lines = query_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SpanguardError(f"cannot read queries file {query_path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpanguardError(f"queries file {query_path} is not UTF-8 text") from None
    queries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not queries:
        raise SpanguardError(f"queries file {query_path} holds no questions")
    return queries


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
            )
        elif path.is_file():
            if path.suffix.lower() not in DOCUMENT_SUFFIXES:
                raise SpanguardError(f"{path}: only .txt and .md files can be indexed")
            found.append(path)
        else:
            raise SpanguardError(f"{path}: no such file or directory")
    return found


def read_documents(paths: Sequence[str | os.PathLike[str]]) -> list[SourceDocument]:
    """Read `.txt`/`.md` files (folders are searched recursively) or explain why not."""
    files = _expand(paths)
    if not files:
        raise SpanguardError("no .txt or .md files found in " + ", ".join(str(p) for p in paths))
    documents: list[SourceDocument] = []
    for path in files:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise SpanguardError(f"{path}: larger than {MAX_DOCUMENT_BYTES // 1000**2} MB; split it first")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SpanguardError(f"{path}: not UTF-8 text") from None
        except OSError as exc:
            raise SpanguardError(f"{path}: cannot read ({exc.strerror})") from None
        if text.strip():
            documents.append(SourceDocument(source=str(path), text=text))
    if not documents:
        raise SpanguardError("every file given to ingest is empty")
    return documents
