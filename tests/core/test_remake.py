"""A settings change is said before the batch and cleaned up after it: the real command over the loopback server.

What a user checks: the line before the batch, the files left in the output folder (compared with the report's
outputs, never with hard-coded names), that a failed remake keeps the old thumbnails, and that nothing the user
put in the folder (or anything outside it) is ever removed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from PIL import Image

from core.batch.control import BatchMode
from core.batch.journal import STATE_DIR, Journal, journal_path
from core.batch.remake import RemakePlan, SettingChange, remake_plan
from core.models import Entry, ItemUpdate, Output, Status
from core.settings import Format, Settings
from tests.support.command import thumbnailer
from tests.support.loopback import LoopbackServer, image_bytes


def _files(out: Path) -> set[str]:
    """Every file in the output folder but the journal's, relative, as a user would list them."""
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.parts}


def _run(out: Path, report: Path, *args: str) -> tuple[str, dict[str, dict]]:
    """The command; its stderr and the report's items by URL."""
    result = thumbnailer(*args, "-o", str(out), "--report", str(report), "--processes", "1")
    assert result.returncode in (0, 1), result.stderr
    return result.stderr, {i["url"]: i for i in json.loads(report.read_text())["items"]}


def _outputs(items: dict[str, dict], out: Path) -> set[str]:
    return {Path(o["path"]).relative_to(out).as_posix() for i in items.values() for o in i["outputs"]}


def _longest_side(path: Path) -> int:
    with Image.open(path) as im:
        return max(im.size)


def _urls(server: LoopbackServer, n: int) -> list[str]:
    return [server.url(f"/img/remake{i}.jpg?w={600 + i}&h=400") for i in range(n)]


def test_a_size_and_format_change_is_said_before_the_batch_and_leaves_only_the_new_files(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    urls = _urls(http_server, 3)
    first_err, first = _run(out, report, *urls, "-s", "256", "--format", "webp")
    assert "Remaking" not in first_err  # nothing was made before
    assert _files(out) == _outputs(first, out) and len(_files(out)) == 3

    stderr, second = _run(out, report, *urls, "-s", "128", "--format", "jpeg")
    assert "Remaking 3 images: size 256 -> 128, format webp -> jpeg (old files replaced)" in stderr
    assert stderr.index("Remaking") < stderr.index("3 done")  # before the batch, not after it
    assert {i["status"] for i in second.values()} == {"done"}
    assert _files(out) == _outputs(second, out)  # the WebP files are gone, only the new JPEGs are left
    assert {_longest_side(out / name) for name in _files(out)} == {128}
    assert {Path(name).suffix for name in _files(out)} == {".jpg"}

    third_err, third = _run(out, report, *urls, "-s", "128", "--format", "jpeg")
    assert "Remaking" not in third_err and {i["status"] for i in third.values()} == {"skipped"}


def test_a_size_change_under_the_same_name_replaces_the_file_and_fewer_sizes_remove_the_extra_ones(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    urls = _urls(http_server, 2)
    _run(out, report, *urls, "-s", "256")
    stderr, second = _run(out, report, *urls, "-s", "128")
    assert "Remaking 2 images: size 256 -> 128" in stderr
    assert _files(out) == _outputs(second, out) and len(_files(out)) == 2
    assert {_longest_side(out / name) for name in _files(out)} == {128}

    stderr, several = _run(out, report, *urls, "-s", "64", "-s", "128")
    assert "Remaking 2 images: size 128 -> 64,128" in stderr
    assert _files(out) == _outputs(several, out) and len(_files(out)) == 4
    stderr, back = _run(out, report, *urls, "-s", "64")
    assert "size 64,128 -> 64" in stderr
    assert _files(out) == _outputs(back, out) and len(_files(out)) == 2


def test_a_remake_that_fails_keeps_the_old_files_until_one_succeeds(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    body = image_bytes("kept", "jpg", 320, 240)
    url = http_server.add("/kept.jpg", body, {"Content-Type": "image/jpeg"})
    other = _urls(http_server, 1)
    _stderr, first = _run(out, report, url, *other, "--format", "png")
    made = _files(out)
    assert made == _outputs(first, out) and len(made) == 2

    http_server.add("/kept.jpg", b"gone", status=404)
    stderr, failed = _run(out, report, url, *other, "--format", "webp")
    assert "Remaking 2 images: format png -> webp" in stderr
    assert failed[url]["status"] == "failed" and failed[url]["outputs"] == []
    (kept,) = _outputs(first, out) - _outputs({k: v for k, v in first.items() if k != url}, out)
    assert kept in _files(out)  # the failed item's PNG stays; the other item's PNG became a WebP
    assert _files(out) == {kept} | _outputs(failed, out)

    http_server.add("/kept.jpg", body, {"Content-Type": "image/jpeg"})
    _stderr, retried = _run(out, report, url, *other, "--format", "webp", "--retry-failed")
    assert retried[url]["status"] == "done"
    assert _files(out) == _outputs(retried, out)  # once it is made again, its PNG goes


def test_files_the_user_put_in_the_folder_or_outside_it_are_never_removed(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    urls = _urls(http_server, 2)
    _run(out, report, *urls, "--format", "png")
    mine = {"notes.txt": b"mine", "holiday/beach.png": b"my own picture", "old.webp": b"not from this tool"}
    for name, data in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    outside = tmp_path / "victim.png"
    outside.write_bytes(b"outside the output folder")
    # A journal edited by hand (or by a buggy release) that claims a file outside --out as an item's output.
    db = sqlite3.connect(journal_path(out))
    try:
        (outputs,) = db.execute("SELECT outputs FROM items WHERE key = ?", (urls[0],)).fetchone()
        claimed = [*json.loads(outputs), ["../victim.png", 1, 1, 1]]
        db.execute("UPDATE items SET outputs = ? WHERE key = ?", (json.dumps(claimed), urls[0]))
        db.commit()
    finally:
        db.close()

    _stderr, second = _run(out, report, *urls, "--format", "jpeg")
    assert {i["status"] for i in second.values()} == {"done"}
    assert _files(out) == _outputs(second, out) | set(mine)
    assert all((out / name).read_bytes() == data for name, data in mine.items())
    assert outside.read_bytes() == b"outside the output folder"


def test_the_plan_is_read_without_starting_anything_and_counts_only_the_items_asked_for(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    urls = _urls(http_server, 3)
    _run(out, report, *urls[:2], "-s", "200", "--format", "webp")
    _run(out, report, urls[2], "-s", "300", "--format", "webp")
    journal = journal_path(out)
    before = (journal.read_bytes(), os.stat(journal).st_mtime_ns)

    jpeg = Settings(out=out, size=(128,), format=Format.JPEG).validated()
    plan = remake_plan(out, jpeg, keys=urls)
    assert plan == RemakePlan(
        changed=3, changes=(SettingChange("size", ("200", "300"), "128"), SettingChange("format", ("webp",), "jpeg"))
    )
    assert plan.reasons("→") == "size 200, 300 → 128, format webp → jpeg"
    assert remake_plan(out, jpeg, keys=urls[:1]).changed == 1
    assert remake_plan(out, jpeg, keys=[http_server.url("/img/never.jpg")]) == RemakePlan()
    assert remake_plan(out, jpeg).changed == 1  # no keys: the newest run's items, as a resume covers

    same = Settings(out=out, size=(300,), format=Format.WEBP).validated()
    assert remake_plan(out, same, keys=urls) == RemakePlan(changed=2, changes=(SettingChange("size", ("200",), "300"),))
    forced = remake_plan(out, same, BatchMode.FORCE, keys=urls)
    assert (forced.changed, forced.forced) == (2, 1)
    assert forced.line() == "Remaking 3 images: 2 for size 200 -> 300; 1 for --force (old files replaced)"
    assert remake_plan(out, same, BatchMode.RETRY_FAILED, keys=urls[2:]) == RemakePlan()
    assert remake_plan(tmp_path / "empty", same) == RemakePlan() and not (tmp_path / "empty").exists()
    assert (journal.read_bytes(), os.stat(journal).st_mtime_ns) == before  # read-only


def test_settings_a_fingerprint_cannot_change_say_nothing(http_server: LoopbackServer, tmp_path: Path) -> None:
    """Download limits are not output settings: changing them remakes nothing and says nothing."""
    out, report = tmp_path / "out", tmp_path / "report.json"
    urls = _urls(http_server, 2)
    _run(out, report, *urls)
    stderr, again = _run(out, report, *urls, "--threads", "2", "--timeout", "20")
    assert "Remaking" not in stderr and {i["status"] for i in again.values()} == {"skipped"}


def test_the_journal_returns_only_the_old_files_the_new_outputs_do_not_overwrite(tmp_path: Path) -> None:
    url = "http://h/a.jpg"
    with Journal(tmp_path) as journal:
        run = journal.new_run("fp-1", BatchMode.NORMAL)
        journal.add_entries([Entry(url, url)], run)
        made = [Output("a_64.webp", 64, 48, 10), Output("a_128.webp", 128, 96, 20)]
        assert journal.record([ItemUpdate(url, url, Status.DONE, outputs=made)], run, "fp-1") == []

        failed = ItemUpdate(url, url, Status.FAILED, error="HTTP 404 Not Found")
        assert journal.record([failed], run, "fp-2") == []  # a failure replaces nothing
        (item,) = journal.items(run)
        assert item.outputs == []  # and the report shows no outputs for it

        again = [Output("A_64.WEBP", 64, 48, 11), Output("a.jpg", 128, 96, 30)]  # case only: the same file on macOS
        assert journal.record([ItemUpdate(url, url, Status.DONE, outputs=again)], run, "fp-2") == ["a_128.webp"]
        (item,) = journal.items(run)
        assert item.outputs == again
