"""`spanguard ingest PATH...`: index your own .txt/.md files for the reference pipeline.

The index lives in the `pipeline.data_dir` Chroma store and replaces what was there, so
`ask` and `serve` answer from these files afterwards. `--handbook` restores the bundled one.
"""

from __future__ import annotations

import argparse

from spanguard.errors import SpanguardError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", help=".txt/.md files or folders (searched recursively)")
    parser.add_argument("--handbook", action="store_true", help="re-index the bundled sample handbook")
    parser.add_argument("--config", help="spanguard YAML file "
                        "(default: $SPANGUARD_CONFIG or ./spanguard.yaml)")


def run(args: argparse.Namespace) -> int:
    if bool(args.paths) == bool(args.handbook):
        raise SpanguardError("give the files to index, or --handbook (not both)")
    from spanguard.config import load_config
    from spanguard.pipeline.corpus import bundled_handbook, read_documents
    from spanguard.pipeline.embedding import build_embedder
    from spanguard.pipeline.retrieval import ChromaRetriever
    from spanguard.pipeline.runtime import apply_env_overrides

    pipeline = apply_env_overrides(load_config(args.config).pipeline)
    documents = bundled_handbook() if args.handbook else read_documents(args.paths)
    embedder = build_embedder(pipeline.embedding, api_base=pipeline.embedding_api_base,
                              timeout_s=pipeline.request_timeout_s)
    retriever = ChromaRetriever(pipeline.data_dir, embedder)
    chunks = retriever.index_documents(documents)
    print(f"indexed {chunks} chunks from {len(documents)} files into {retriever.data_dir} "
          f"(embedding: {retriever.embedder.name})")
    return 0
