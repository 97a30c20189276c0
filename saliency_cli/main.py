"""`saliency`: the parser of every subcommand, and one rule for errors: a library or client error
prints as one line, `error: ...`, and the command exits with status 2."""
from __future__ import annotations

import argparse
import sys

from saliency.errors import SaliencyError
from saliency_cli import (adaptive, bench, docs, explain, localisation, load, reconstruction, responsiveness,
                          serve, train_generator, variants)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saliency", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    explain.add_parsers(sub)
    benches = sub.add_parser("bench", help="benchmarks that print figures").add_subparsers(
        dest="bench", required=True)
    bench.add_parser(benches)
    localisation.add_parser(benches)
    adaptive.add_parser(benches)
    load.add_parser(benches)
    responsiveness.add_parser(benches)
    reconstruction.add_parser(benches)
    variants.add_parser(benches)
    train_generator.add_parser(sub)
    serve.add_parser(sub)
    docs.add_parser(sub)
    try:
        from saliency_client.cli import add_parsers as add_remote  # submit, status, fetch
    except ImportError:  # the client is a distribution of its own (client/)
        pass
    else:
        add_remote(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from saliency_client.errors import ClientError
    except ImportError:
        ClientError = SaliencyError  # noqa: N806 - without the client there are none
    try:
        code = args.func(args)
    except (SaliencyError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
