"""`runway-console catalogue from-sdk`: a model catalogue read from the installed runwayml SDK.

The SDK knows the official API's image_to_video models and their parameters; prices and durations it
lacks come from app/catalogue_facts.json (or --facts). The SDK is imported only when this runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_catalogue_commands(commands: argparse._SubParsersAction) -> None:
    catalogue = commands.add_parser("catalogue", help="build a model catalogue")
    actions = catalogue.add_subparsers(dest="catalogue_command", required=True)
    from_sdk = actions.add_parser(
        "from-sdk",
        help="a catalogue of the official API's image_to_video models, read from the installed runwayml SDK",
    )
    from_sdk.add_argument("--output", type=Path, default=None, help="write it to FILE (atomically) instead of stdout")
    from_sdk.add_argument(
        "--facts",
        type=Path,
        default=None,
        help="prices and durations the SDK lacks (default: the packaged catalogue_facts.json)",
    )


def run_catalogue_from_sdk(args: argparse.Namespace) -> int:
    from app.catalogue_sdk import SdkUnavailable, generate_catalogue, load_facts
    from app.files import write_atomically

    try:
        generated = generate_catalogue(load_facts(args.facts))
    except SdkUnavailable as exc:
        print(f"runway-console: {exc}", file=sys.stderr)
        return 2
    for model, reason in generated.skipped:
        print(f"runway-console: left out {model}: {reason}", file=sys.stderr)
    text = generated.to_json()
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text.encode("utf-8"))
        models = len(generated.catalogue.models)
        print(
            f"runway-console: wrote {models} models from runwayml {generated.sdk_version} to {args.output}",
            file=sys.stderr,
        )
    return 0
