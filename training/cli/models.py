"""``lesionloop models list|show|activate|rollback|register|remove``: the model registry.

- ``list [--json]``: every version, the active one marked ``*``;
- ``show VERSION [--json]``: its architecture, parent, data hash, metrics, created, command, notes;
- ``activate VERSION [--force]``: make it the active model; a version whose binary Dice is
  lower than its parent's is refused (exit 2) unless ``--force``;
- ``rollback [VERSION]``: back to the previously active version (or a named earlier one,
  or ``bundled``); nothing is deleted;
- ``register FOLDER [--name N] [--parent P] [--notes TEXT]``: copy a trained model folder in;
- ``remove VERSION``: delete a version that is neither active nor bundled.

With no action, ``list``. Registry warnings (a corrupt ``active.json``) are
printed as one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

from core_models.model_store import RegistryWarning, architecture_text
from training import registry
from training.registry import ActivationRefused, VersionInfo

_SUMMARY_COLUMNS = (("dice_ggo", "GGO"), ("dice_consolidation", "CONS"), ("dice_binary", "BINARY"), ("map", "mAP"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, activate or roll back model versions",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="list the versions (active marked *)")
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    show = actions.add_parser("show", help="one version's metadata")
    show.add_argument("version")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    act = actions.add_parser("activate", help="make a version the active model")
    act.add_argument("version")
    act.add_argument("--force", action="store_true", help="activate even if it scores below its parent")
    back = actions.add_parser("rollback", help="return to the previously active version")
    back.add_argument("version", nargs="?", help="an earlier active version or 'bundled' (default: the previous one)")
    reg = actions.add_parser("register", help="copy a trained model folder into the registry")
    reg.add_argument("folder", help="model folder (spec.json + weights), e.g. a training run's best/")
    reg.add_argument("--name", help="version name (default v<NNNN>-<time>)")
    reg.add_argument("--parent", help="version it was fine-tuned from (default: from its spec)")
    reg.add_argument("--notes", default="", help="free text stored with it")
    rm = actions.add_parser("remove", help="delete a version (not the active one, not bundled)")
    rm.add_argument("version")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the action; registry warnings become ``lesionloop models: warning: ...`` lines."""
    handler = _HANDLERS[args.action or "list"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistryWarning)
        try:
            return handler(args)
        finally:
            for w in caught:
                if issubclass(w.category, RegistryWarning):
                    print(f"lesionloop models: warning: {w.message}", file=sys.stderr)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _created(info: VersionInfo) -> str:
    return (info.created or "-").replace("T", " ")[:16]


def table_lines(versions: list[VersionInfo]) -> list[str]:
    """The ``list`` table: one row per version, ``*`` marks the active one."""
    header = ["", "VERSION", "CREATED (UTC)", "PARENT", *(c for _, c in _SUMMARY_COLUMNS), "DATA", "ARCHITECTURE"]
    rows = [header]
    for v in versions:
        arch = f"BROKEN: {v.problem}" if v.broken else architecture_text(v.architecture)
        rows.append(["*" if v.active else "", v.version, _created(v), v.parent or "-",
                     *(_fmt(v.summary[k]) for k, _ in _SUMMARY_COLUMNS), (v.data_hash or "-")[:12], arch])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return [" ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + " " + r[-1] for r in rows]


def _list(args: argparse.Namespace) -> int:
    versions = registry.list_versions()
    if args.json:
        print(json.dumps([v.to_json() for v in versions], indent=2))
    else:
        print("\n".join(table_lines(versions)))
    return 0


def _flat(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            items += _flat(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            items.append((f"{prefix}{key}", value))
    return items


def show_lines(info: VersionInfo) -> list[str]:
    """``show``'s ``key: value`` lines."""
    lines = [f"version:      {info.version}{'  (active)' if info.active else ''}",
             f"folder:       {info.path}"]
    if info.broken:
        lines.append(f"problem:      {info.problem}")
    lines += [f"architecture: {architecture_text(info.architecture)}",
              f"parent:       {info.parent or '-'}",
              f"data hash:    {info.data_hash or '-'}",
              f"created:      {info.created or '-'}",
              f"command:      {info.command or '-'}",
              "summary:      " + ", ".join(f"{name} {_fmt(info.summary[k])}" for k, name in _SUMMARY_COLUMNS)]
    flat = _flat(info.metrics)
    lines.append("metrics:" + ("" if flat else "      -"))
    lines += [f"  {key}: {_fmt(value) if isinstance(value, float) else value}" for key, value in flat]
    notes = info.notes.splitlines() or ["-"]
    lines += [f"notes:        {notes[0]}", *(f"              {n}" for n in notes[1:])]
    return lines


def _show(args: argparse.Namespace) -> int:
    info = registry.version_info(args.version)
    print(json.dumps(info.to_json(), indent=2) if args.json else "\n".join(show_lines(info)))
    return 0


def _activate(args: argparse.Namespace) -> int:
    try:
        previous = registry.activate(args.version, force=args.force)
    except ActivationRefused as exc:
        print(f"lesionloop models: error: not activated: {exc}; use --force to activate it anyway",
              file=sys.stderr)
        return exc.exit_code
    print(f"active model: {args.version}" + (f" (was {previous})" if previous != args.version else " (unchanged)"))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    print(f"active model: {registry.rollback(args.version)}")
    return 0


def _register(args: argparse.Namespace) -> int:
    version = registry.register_model(args.folder, name=args.name, parent=args.parent, notes=args.notes)
    print(f"registered {version} (not active; `lesionloop models activate {version}` to use it)")
    return 0


def _remove(args: argparse.Namespace) -> int:
    registry.remove(args.version)
    print(f"removed {args.version}")
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": lambda a: _list(argparse.Namespace(**{"json": False, **vars(a)})),
    "show": _show, "activate": _activate, "rollback": _rollback, "register": _register, "remove": _remove,
}
