"""Facts about the packaged app that the spec, the Linux packages and the tests share.

One place for names and the version, so the .deb, the tar.gz, the Windows version resource and the macOS
Info.plist cannot disagree. The version comes from pyproject.toml, never from a second copy.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
ICON_SVG = ROOT / "gui" / "resources" / "icon.svg"
BUILD_DIR = ROOT / "build"
DIST_DIR = ROOT / "dist"
ICON_DIR = BUILD_DIR / "icons"

APP_ID = "batch-thumbnailer"  # folder, .desktop file, icon name, Debian package
APP_TITLE = "Batch Thumbnailer"
GUI_EXE = "batch-thumbnailer"
CLI_EXE = "thumbnailer"
BUNDLE_ID = "io.github.batch-thumbnailer"
SUMMARY = "Turn lists of image URLs, local images and folders into thumbnails"
MAINTAINER = "Batch Thumbnailer developers <batch-thumbnailer@localhost>"


def read_version(pyproject: Path = PYPROJECT) -> str:
    """The [project] version of pyproject.toml: the single source of the app's version."""
    with pyproject.open("rb") as f:
        return tomllib.load(f)["project"]["version"]


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """Four numbers for the Windows version resource and CFBundleVersion ("1.2rc1" -> (1, 2, 0, 0))."""
    head = re.match(r"\d+(\.\d+)*", version)
    if head is None:
        raise ValueError(f"the version in pyproject.toml does not start with a number: {version!r}")
    numbers = [int(n) for n in head.group().split(".")][:4]
    return (*numbers, 0, 0, 0)[:4]


def windows_version_text(version: str) -> str:
    """A PyInstaller version-file (VSVersionInfo) for the two Windows executables."""
    nums = version_tuple(version)
    strings = {
        "CompanyName": APP_TITLE,
        "FileDescription": APP_TITLE,
        "FileVersion": version,
        "InternalName": APP_ID,
        "LegalCopyright": "MIT licence",
        "OriginalFilename": f"{GUI_EXE}.exe",
        "ProductName": APP_TITLE,
        "ProductVersion": version,
    }
    table = ",\n          ".join(f"StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={nums}, prodvers={nums}, mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([StringTable('040904B0', [
          {table}])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])]),
  ]
)
"""


def macos_info_plist(version: str) -> dict[str, object]:
    """Info.plist entries: the app opens .txt and .csv URL lists (and images) handed to it by Finder."""
    return {
        "CFBundleName": APP_TITLE,
        "CFBundleDisplayName": APP_TITLE,
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": ".".join(str(n) for n in version_tuple(version)[:3]),
        "NSHighResolutionCapable": True,
        "NSHumanReadableCopyright": "MIT licence",
        "LSMinimumSystemVersion": "11.0",
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": "URL list",
                "CFBundleTypeRole": "Viewer",
                "LSHandlerRank": "Alternate",
                "CFBundleTypeExtensions": ["txt", "csv"],
                "LSItemContentTypes": ["public.plain-text", "public.comma-separated-values-text"],
            },
            {
                "CFBundleTypeName": "Image",
                "CFBundleTypeRole": "Viewer",
                "LSHandlerRank": "Alternate",
                "LSItemContentTypes": ["public.jpeg", "public.png", "org.webmproject.webp", "public.image"],
            },
            {
                "CFBundleTypeName": "Folder",
                "CFBundleTypeRole": "Viewer",
                "LSHandlerRank": "Alternate",
                "LSItemContentTypes": ["public.folder"],
            },
        ],
    }
