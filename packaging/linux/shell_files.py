"""`thumbnailer`'s shell completion (bash, zsh, fish) and man page, generated from its argparse parser.

Made when the packages are built (make_packages.py puts them into the tar.gz's and the .deb's share/), so
they list exactly the flags `thumbnailer --help` does. shtab writes the completions and argparse-manpage the
man page: both are in the `package` extra. Usage: python packaging/linux/shell_files.py OUT_SHARE_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "packaging")]

from app_info import APP_TITLE, CLI_EXE, read_version  # noqa: E402

#: Shell -> where its completion file goes under share/ (the paths Debian's shells load them from).
COMPLETIONS = {
    "bash": f"bash-completion/completions/{CLI_EXE}",
    "zsh": f"zsh/vendor-completions/_{CLI_EXE}",
    "fish": f"fish/vendor_completions.d/{CLI_EXE}.fish",
}
MAN_PAGE = f"man/man1/{CLI_EXE}.1.gz"
#: Arguments whose values are paths: the shells offer files (or folders) there.
FOLDERS = {"out"}
FILES = {"sources", "report"}


@contextlib.contextmanager
def _default_state_folder() -> Iterator[None]:
    """The help's log path as on a user's machine (`~/.local/state/...`), not the build's XDG_STATE_HOME."""
    saved = os.environ.pop("XDG_STATE_HOME", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["XDG_STATE_HOME"] = saved


def command_parser() -> argparse.ArgumentParser:
    """`thumbnailer`'s parser, with path arguments marked for shtab."""
    import shtab

    from core.cli import build_parser

    with _default_state_folder():
        parser = build_parser()
    for action in parser._actions:  # argparse has no public list of its actions
        if action.dest in FOLDERS:
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        elif action.dest in FILES:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    return parser


def completion(shell: str, parser: argparse.ArgumentParser | None = None) -> str:
    import shtab

    return shtab.complete(parser or command_parser(), shell)


def man_page(version: str, parser: argparse.ArgumentParser | None = None) -> str:
    """The roff source of thumbnailer(1)."""
    from argparse_manpage.manpage import Manpage

    page = Manpage(parser or command_parser())
    page.source = f"{CLI_EXE} {version}"
    page.manual = APP_TITLE
    page.description = "turn image URLs, URL lists, images and folders into thumbnails"
    header, rest = str(page).split("\n", 1)
    return f"{header}\n.nh\n{rest}"  # no hyphenation: flags and paths are typed as printed


def write_shell_files(share: Path, version: str) -> list[Path]:
    """The three completion files and the gzipped man page under `share` (a `share/` folder)."""
    parser = command_parser()
    written = []
    for shell, relative in COMPLETIONS.items():
        path = share / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(completion(shell, parser), encoding="utf-8")
        written.append(path)
    man = share / MAN_PAGE
    man.parent.mkdir(parents=True, exist_ok=True)
    with man.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(man_page(version, parser).encode("utf-8"))  # no name or time inside: reproducible
    written.append(man)
    return written


if __name__ == "__main__":
    for made in write_shell_files(Path(sys.argv[1]), read_version()):
        print(made)
