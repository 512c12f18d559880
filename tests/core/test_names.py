"""The names thumbnails get, as a user meets them: the command run for real over the loopback server and folders
made in the test, and the journal that keeps every name once given."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from core.batch import journal as journal_module
from core.batch.journal import MIGRATIONS, Journal, journal_path, migrate
from core.cli import build_parser
from core.models import Entry
from core.naming import output_stem
from core.settings import Settings, SettingsError
from tests.support.command import thumbnailer


def _image(path: Path, size: tuple[int, int] = (320, 240), fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 40, 40)).save(path, fmt)
    return path


def _made(out: Path) -> list[str]:
    """Every file the batch made under `out`, as paths relative to it (its state folder left out)."""
    return sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".thumbnailer" not in p.parts
    )


def _outputs(report: Path, out: Path) -> dict[str, list[str]]:
    """source -> the output files of its item, relative to `out`, from a JSON report."""
    items = json.loads(report.read_text())["items"]
    return {i["source"]: [Path(o["path"]).relative_to(out).as_posix() for o in i["outputs"]] for i in items}


def _run(*args: str) -> None:
    result = thumbnailer(*args, "--processes", "1")
    assert result.returncode == 0, result.stderr


# -- the rules, from the command -----------------------------------------------------------------------------------


def test_a_folder_keeps_its_tree_and_the_plain_names_with_the_format_s_extension(tmp_path: Path) -> None:
    src, out = tmp_path / "SRC", tmp_path / "OUT"
    _image(src / "2023" / "summer" / "IMG_0001.JPG")
    _image(src / "2024" / "winter" / "IMG_0001.JPG")
    _image(src / "cover.png", fmt="PNG")
    _run(str(src), "-o", str(out))
    assert _made(out) == ["2023/summer/IMG_0001.jpg", "2024/winter/IMG_0001.jpg", "cover.jpg"]


def test_a_url_keeps_its_last_segment_and_several_sizes_add_the_size(http_server, tmp_path: Path) -> None:
    url = http_server.url("/img/photo_004.jpg?w=600&h=400")
    _run(url, "-o", str(tmp_path / "one"))
    assert _made(tmp_path / "one") == ["photo_004.jpg"]
    _run(url, "-o", str(tmp_path / "two"), "-s", "128", "-s", "512")
    assert _made(tmp_path / "two") == ["photo_004_128.jpg", "photo_004_512.jpg"]


def test_a_single_file_keeps_its_name(tmp_path: Path) -> None:
    image = _image(tmp_path / "pics" / "Holiday 2023.jpeg")
    _run(str(image), "-o", str(tmp_path / "out"))
    assert _made(tmp_path / "out") == ["Holiday_2023.jpg"]


def test_clashing_names_get_numbers_in_input_order_whatever_their_case(http_server, tmp_path: Path) -> None:
    urls = [
        http_server.url("/img/photo.jpg?w=100&h=80"),
        http_server.url("/img/Photo.jpg?w=110&h=80"),
        http_server.url("/img/PHOTO.png?w=120&h=80"),
        http_server.url("/img/photo-2.jpg?w=130&h=80"),  # its own name is the second one's: it is taken
    ]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(urls) + "\n")
    out, report = tmp_path / "out", tmp_path / "r.json"
    _run(str(listing), "-o", str(out), "--report", str(report))
    names = [paths[0] for paths in _outputs(report, out).values()]
    assert [Path(n).name for n in names] == ["photo.jpg", "Photo-2.jpg", "PHOTO-3.jpg", "photo-2-2.jpg"]
    assert len(_made(out)) == 4


def test_re_runs_and_force_keep_every_name(http_server, tmp_path: Path) -> None:
    first = [http_server.url(f"/img/photo.jpg?w={100 + i}&h=80") for i in range(3)]
    listing, out, report = tmp_path / "list.txt", tmp_path / "out", tmp_path / "r.json"
    listing.write_text("\n".join(first) + "\n")
    _run(str(listing), "-o", str(out), "--report", str(report))
    named = {source: paths for source, paths in _outputs(report, out).items()}
    assert sorted(Path(p[0]).name for p in named.values()) == ["photo-2.jpg", "photo-3.jpg", "photo.jpg"]

    # A new item at the top of the list, clashing with them all: the old ones keep their names, it gets the next.
    newcomer = http_server.url("/img/photo.jpg?w=90&h=80")
    listing.write_text("\n".join([newcomer, *reversed(first)]) + "\n")
    _run(str(listing), "-o", str(out), "--report", str(report))
    again = _outputs(report, out)
    assert {s: again[s] for s in first} == named
    assert Path(again[newcomer][0]).name == "photo-4.jpg"

    _run(str(listing), "-o", str(out), "--report", str(report), "--force")
    assert _outputs(report, out) == again
    assert len(_made(out)) == 4


def test_a_template_with_several_sizes(http_server, tmp_path: Path) -> None:
    url = http_server.url("/img/gallery/cat.jpg?w=400&h=300")
    host = f"127.0.0.1_{http_server.port}"
    _run(url, "-o", str(tmp_path / "a"), "-s", "64", "-s", "128", "--name", "{host}/{stem}_{width}x{height}")
    assert _made(tmp_path / "a") == [f"{host}/cat_128x96_128.jpg", f"{host}/cat_64x48_64.jpg"]
    _run(url, "-o", str(tmp_path / "b"), "-s", "64", "-s", "128", "--name", "{dir}/{size}/{stem}-{n}")
    assert _made(tmp_path / "b") == ["img/gallery/128/cat-1.jpg", "img/gallery/64/cat-1.jpg"]


def test_the_hash_field_gives_the_names_of_earlier_releases(http_server, tmp_path: Path) -> None:
    url = http_server.url("/img/cat.jpg?w=400&h=300")
    _run(url, "-o", str(tmp_path / "out"), "--name", "{stem}-{hash}")
    assert _made(tmp_path / "out") == [f"{output_stem(url)}.jpg"]


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{nope}", "unknown field {nope}"),
        ("{stem", "unbalanced braces"),
        ("{stem}}", "unbalanced braces"),
        ("../{stem}", "cannot start with '.'"),
        ("a/../{stem}", "cannot start with '.'"),
        ("/tmp/{stem}", "not an absolute path"),
        ("C:{stem}", "not an absolute path"),
        ("a//{stem}", "empty folder name"),
        ("{stem}/", "empty folder name"),
        ("a\\{stem}", "use / to make folders"),
        ("{stem}?", "cannot contain '?'"),
        ("{stem}/thumb", "needs a field"),
    ],
)
def test_a_template_that_cannot_be_used_is_a_usage_error_in_words(template: str, words: str, capsys) -> None:
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["x", "--name", template])
    assert usage.value.code == 2
    assert f"argument --name: {template!r} cannot be used: " in capsys.readouterr().err
    # The window checks the same declaration, with the same words.
    with pytest.raises(SettingsError) as refused:
        Settings(name=template).validated()
    assert str(refused.value).startswith(f"--name {template!r} cannot be used: ") and words in str(refused.value)


def test_the_command_refuses_a_bad_template_before_doing_anything(tmp_path: Path) -> None:
    result = thumbnailer("x.jpg", "-o", str(tmp_path / "out"), "--name", "{stem}_{colour}")
    assert result.returncode == 2
    assert "--name" in result.stderr and "unknown field {colour}" in result.stderr
    assert not (tmp_path / "out").exists()


# -- the journal keeps the names -----------------------------------------------------------------------------------


def _names(out: Path) -> dict[str, str | None]:
    with Journal(out) as j:
        return {item.key: item.name for item in j.pending(1, 0, 1_000_000)}


def test_names_are_unique_across_insert_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "INSERT_BATCH", 7)
    entries = [Entry(f"u{i}", f"https://h/?id={i}") for i in range(30)]  # all 'image'
    entries.insert(4, Entry("dup", "https://h/?id=2"))  # the same item again: one row, one name
    entries.insert(2, Entry("own", "https://h/image-4.png"))  # its own name, 'image-4', is free when it comes
    with Journal(tmp_path) as j:
        j.add_entries(entries, j.new_run("fp", "normal"))
    names = _names(tmp_path)
    assert names["https://h/?id=0"] == "image"
    assert names["https://h/?id=1"] == "image-2"
    assert names["https://h/image-4.png"] == "image-4"
    assert [names[f"https://h/?id={i}"] for i in (2, 3, 4, 5)] == ["image-3", "image-5", "image-6", "image-7"]
    assert len(set(names.values())) == len(names) == 31


def _v2_journal(out: Path) -> Path:
    path = journal_path(out)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(db, path, MIGRATIONS[:2])
        rows = [
            # made before a redirect changed its URL: its files say its name
            ("https://h/a.jpg", "https://cdn/b.jpg", "done", '[["a-0123456789abcdef_128.jpg", 128, 96, 10]]'),
            ("https://h/c.jpg", "https://h/c.jpg", "pending", None),
            ("https://h/d.jpg", "https://h/d.jpg", "failed", "[]"),
        ]
        for key, url, status, outputs in rows:
            db.execute(
                "INSERT INTO items (key, source, url, status, outputs, run) VALUES (?, ?, ?, ?, ?, 1)",
                (key, key, url, status, outputs),
            )
        db.execute("INSERT INTO items (key, source, status, run) VALUES ('invalid:-:0:x', 'x', 'invalid', 1)")
    finally:
        db.close()
    return path


def test_a_version_2_journal_keeps_the_names_its_files_have(tmp_path: Path) -> None:
    _v2_journal(tmp_path)
    with Journal(tmp_path) as j:
        pending = {item.key: item.name for item in j.pending(1, 0, 100)}
        assert pending == {"https://h/c.jpg": output_stem("https://h/c.jpg")}
        j.add_entries([Entry("new", "https://h/a.jpg"), Entry("new", "https://h/e.jpg")], 2)
    db = sqlite3.connect(journal_path(tmp_path))
    try:
        names = dict(db.execute("SELECT key, name FROM items").fetchall())
    finally:
        db.close()
    assert names == {
        "https://h/a.jpg": "a-0123456789abcdef",
        "https://h/c.jpg": output_stem("https://h/c.jpg"),
        "https://h/d.jpg": output_stem("https://h/d.jpg"),
        "invalid:-:0:x": None,
        "https://h/e.jpg": "e",
    }


def test_a_long_list_of_one_name_is_named_with_a_few_queries_a_batch(tmp_path: Path) -> None:
    """Addresses such as '.../image?id=N' all want 'image': numbering them must not ask the journal once an item."""
    count = 3 * journal_module.INSERT_BATCH + 17
    statements: list[str] = []
    with Journal(tmp_path) as j:
        j.add_entries([Entry("x", "https://h/list.jpg")], j.new_run("fp", "normal"))  # 'list', nothing to clash
        j._db.set_trace_callback(statements.append)
        j.add_entries((Entry(f"u{i}", f"https://h/image?id={i}") for i in range(count)), 1)
        j._db.set_trace_callback(None)
    batches = -(-count // journal_module.INSERT_BATCH)
    queries = [s for s in statements if s.startswith("SELECT")]  # (each row an insert writes is traced too)
    assert len(queries) <= 4 * batches, queries[:20]
    names = _names(tmp_path)
    assert [names[f"https://h/image?id={i}"] for i in (0, 1, 2, count - 1)] == [
        "image", "image-2", "image-3", f"image-{count}",
    ]  # fmt: skip
    assert len(set(names.values())) == count + 1
