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
    parser.add_argument(
        "--config", help="spanguard YAML file (default: $SPANGUARD_CONFIG or ./spanguard.yaml)"
    )


def run(args: argparse.Namespace) -> int:
    if bool(args.paths) == bool(args.handbook):
        raise SpanguardError("give the files to index, or --handbook (not both)")
    from spanguard.config import load_config
    from spanguard.pipeline.corpus import bundled_handbook, read_documents
    from spanguard.pipeline.retrieval import ChromaRetriever
    from spanguard.pipeline.runtime import apply_env_overrides, build_configured_embedder

    pipeline = apply_env_overrides(load_config(args.config).pipeline)
    if pipeline.retriever:
        raise SpanguardError(
            "pipeline.retriever names your own retriever: index its documents "
            "with your own tools (ingest fills spanguard's Chroma index)"
        )
    documents = bundled_handbook() if args.handbook else read_documents(args.paths)
    retriever = ChromaRetriever(pipeline.data_dir, build_configured_embedder(pipeline))
    chunks = retriever.index_documents(documents)
    print(
        f"indexed {chunks} chunks from {len(documents)} files into {retriever.data_dir} "
        f"(embedding: {retriever.embedder.name})"
    )
    return 0
