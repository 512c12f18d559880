"""Nothing escapes: outputs stay inside --out whatever the URL says, only http, https and file are ever
fetched (file only where the user gave it), certificates are checked, metadata is not leaked, and a
resizer's memory is capped so one image cannot take the machine down."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

from core.batch.backends.resize_pool import ResizePool
from core.batch.runner import Runner
from core.imaging.jobs import JobOutcome, ResizeJob, memory_limit_for
from core.imaging.resize import ResizeSpec
from core.settings import format_bytes
from tests.support import images, pdfs
from tests.support.harness import entries_of, list_file, output_files, run_batch, settings, stray_files, wait_until
from tests.support.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[2]

HOSTILE_NAMES = [
    "..%2F..%2Fescape.jpg",
    "%2E%2E%2F%2E%2E%2Fdots.jpg",
    "..%5C..%5Cbackslash.jpg",
    "%2Fetc%2Fpasswd",
    "C:%5CWindows%5Cwin.ini.jpg",
    "%5C%5Cserver%5Cshare%5Cunc.jpg",
    "CON.jpg",
    "nul.png",
    "com1.jpg",
    "LPT9.tar.gz",
    "aux",
    "con%20.jpg",
    "a" * 300 + ".jpg",
    "写" * 200 + ".jpg",
    "%00nul-byte.jpg",
    "....jpg",
    ".hidden.jpg",
    "-rf.jpg",
    "%E2%80%AEgpj.exe",
    "new%0Aline.jpg",
    "a%3Cb%3E%7C%3F%2A%22q.jpg",
    "trailing.%20",
    "?only=query",
]
WINDOWS_FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(32)}
DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def test_no_output_ever_lands_outside_the_output_folder(qapp, http_server: LoopbackServer, tmp_path: Path) -> None:
    urls = [http_server.url(f"/any/{name}") for name in HOSTILE_NAMES]
    urls += [http_server.url(f"/any/deep/{name}") for name in HOSTILE_NAMES[:6]]
    listing = list_file(tmp_path / "lists", urls)
    out = tmp_path / "a" / "b" / "out"
    out.parent.mkdir(parents=True)
    before = set(tmp_path.rglob("*"))
    batch = run_batch(settings(out, size=(64, 128)), entries_of(listing))

    made = set(tmp_path.rglob("*")) - before
    outside = [p for p in made if p != out and out not in p.parents and not p.name.startswith("out-report-")]
    assert outside == []
    assert len(batch.items) == len(urls)
    names = []
    for row in batch.items:
        assert row["status"] == "done", (row["source"][:80], row["error"])
        for path in output_files(batch, row):
            assert path.parent == out  # flat: no name makes a sub-folder
            names.append(path.name)
    assert len(set(names)) == len(names) == 2 * len(urls)  # distinct URLs never overwrite each other
    for name in names:
        assert not WINDOWS_FORBIDDEN & set(name), name
        assert name.split(".")[0].upper() not in DEVICES, name
        assert len(name.encode()) <= 200 and not name.startswith((".", "-")) and name == name.strip(". ")
    assert stray_files(out) == []


def _short_hash_twins(base: str) -> tuple[str, str]:
    """A red and a blue image URL with the same name whose SHA-1s share their first 32 bits: what, in a big
    batch of same-named images, a 32-bit name hash lets collide (found by a birthday search, ~130k hashes)."""
    reds: dict[str, str] = {}
    for n in range(400_000):
        red = f"{base}/img/original.jpg?color=ff0000&id={n}"
        reds[hashlib.sha1(red.encode()).hexdigest()[:8]] = red
        blue = f"{base}/img/original.jpg?color=0000ff&id={n}"
        twin = reds.get(hashlib.sha1(blue.encode()).hexdigest()[:8])
        if twin is not None:
            return twin, blue
    raise AssertionError("no 32-bit collision in 800,000 hashes")


def test_urls_whose_short_hashes_collide_still_get_their_own_files(
    qapp, http_server: LoopbackServer, tmp_path: Path
) -> None:
    red, blue = _short_hash_twins(http_server.url(""))
    batch = run_batch(settings(tmp_path / "out"), entries_of(list_file(tmp_path, [red, blue])))
    (red_file,) = output_files(batch, batch.item(red))
    (blue_file,) = output_files(batch, batch.item(blue))
    assert red_file != blue_file
    with Image.open(red_file) as im:
        assert im.convert("RGB").getpixel((48, 36))[0] > 200  # still red: not overwritten by the blue one
    with Image.open(blue_file) as im:
        assert im.convert("RGB").getpixel((48, 36))[2] > 200


OTHER_SCHEMES = [
    "ftp://127.0.0.1/a.jpg",
    "javascript:alert(1)",
    "gopher://127.0.0.1/a.jpg",
    "smb://server/share/a.jpg",
    "ws://127.0.0.1/a.jpg",
    "chrome://settings",
]


def test_only_http_https_and_file_are_ever_fetched(qapp, tmp_path: Path) -> None:
    batch = run_batch(settings(tmp_path / "out"), entries_of(list_file(tmp_path, OTHER_SCHEMES)))
    for line in OTHER_SCHEMES:
        row = batch.item(line)
        assert row["status"] == "invalid" and "only http, https and file" in row["error"], (line, row["error"])


def test_a_data_url_is_an_item_only_when_it_is_an_image(qapp, tmp_path: Path) -> None:
    """An inline image is decoded here, never fetched; any other data: URL is not an item."""
    lines = ["data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "data:image/png;base64,PHNjcmlwdD4="]
    batch = run_batch(settings(tmp_path / "out"), entries_of(list_file(tmp_path, lines)))
    page, fake = batch.item(lines[0]), batch.item(lines[1])
    assert page["status"] == "invalid" and page["error"] == "a data: URL of text/html, not of an image"
    assert fake["status"] == "failed" and fake["error"] == "data: URL holds HTML, not an image"


FILE_LOCATIONS = {
    "file-uri": "{uri}",
    "upper-case": "FILE{uri_rest}",
    "one-slash": "file:{path}",
    "localhost": "file://localhost{path}",
    "leading-space": " {uri}",
    "mixed-case": "FiLe://{path}",
}


def test_a_web_address_cannot_redirect_into_the_local_disk(qapp, http_server: LoopbackServer, tmp_path: Path) -> None:
    private = tmp_path / "private" / "secret.png"
    private.parent.mkdir()
    Image.new("RGB", (40, 40), "red").save(private)
    uri = private.as_uri()
    urls = []
    for code in (301, 302, 303, 307, 308):
        for name, location in FILE_LOCATIONS.items():
            target = location.format(uri=uri, uri_rest=uri[4:], path=str(private))
            urls.append(http_server.add(f"/jump/{code}/{name}", b"", {"Location": target}, status=code))
    batch = run_batch(settings(tmp_path / "out"), entries_of(list_file(tmp_path, urls)))
    for url in urls:
        row = batch.item(url)
        assert (row["status"], row["outputs"]) == ("failed", []), url
        assert "redirect to unsupported scheme file:" in row["error"], (url, row["error"])
    assert not list((tmp_path / "out").glob("secret*"))


# --- SVG: nothing outside the file is ever read ---------------------------------------------------------------


def _svg(body: str, attrs: str = 'width="64" height="48"', prolog: str = "") -> bytes:
    ns = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    return f'<?xml version="1.0"?>{prolog}<svg {ns} {attrs}>{body}</svg>'.encode()


def test_an_svg_never_loads_what_it_points_at(qapp, http_server: LoopbackServer, tmp_path: Path) -> None:
    """An SVG's <image> may name the network, file: URLs and local paths: resvg never fetches the first, and
    the others are removed before it could read them. The drawing is green; any red would be a leak."""
    secret = tmp_path / "pics" / "secret.png"
    secret.parent.mkdir()
    Image.new("RGB", (8, 8), "red").save(secret)
    refs = [http_server.url("/img/bait.png"), secret.as_uri(), str(secret), "secret.png", "pics/secret.png"]
    images = "".join(
        f'<image width="64" height="48" preserveAspectRatio="none" {attr}="{ref}"/>'
        for ref in refs
        for attr in ("href", "xlink:href")
    )
    body = f'<rect width="64" height="48" fill="#00ff00"/>{images}<style>@import url("{refs[0]}");</style>'
    evil = _svg(body, prolog=f'<!DOCTYPE svg SYSTEM "{http_server.url("/dtd/evil.dtd")}">')
    local = secret.parent / "evil.svg"  # next to the image it names by a relative path
    local.write_bytes(evil)
    served = http_server.add("/svg/evil.svg", evil, {"Content-Type": "image/svg+xml"})
    batch = run_batch(settings(tmp_path / "out"), entries_of(list_file(tmp_path, [served, str(local)])))
    for source in (served, str(local)):
        row = batch.item(source)
        assert row["status"] == "done", row["error"]
        for path in output_files(batch, row):
            with Image.open(path) as thumb:
                red, green, _ = thumb.convert("RGB").getextrema()
                assert red[1] < 16 and green[0] > 240, (source, red, green)  # all green, not a red pixel
    assert http_server.hits("/img/bait.png") == http_server.hits("/dtd/evil.dtd") == 0
    assert http_server.hits("/svg/evil.svg") == 1


def test_hostile_svgs_end_clearly_and_in_time(qapp, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    laughs = "".join(['<!ENTITY l0 "lol">', *(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))])
    files = {
        "xxe.svg": _svg("<text>&xxe;</text>", prolog=f'<!DOCTYPE svg [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'),
        "laughs.svg": _svg("<text>&l9;</text>", prolog=f"<!DOCTYPE svg [{laughs}]>"),
        "bomb.svgz": gzip.compress(_svg("<!--") + b" " * 60_000_000, compresslevel=9),
        "huge.svg": _svg('<rect width="100000" height="100000" fill="red"/>', 'width="100000" height="100000"'),
        "broken.svg": _svg("<rect")[:-6],
    }
    for name, data in files.items():
        (tmp_path / "in" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
    lines = [str(tmp_path / "in" / name) for name in files]
    batch = run_batch(settings(tmp_path / "out"), entries_of(list_file(tmp_path, lines)), timeout=60)
    expected = {
        "xxe.svg": "SVG declares an external or parameter XML entity",
        "laughs.svg": "SVG declares an XML entity built from other entities",
        "bomb.svgz": "SVGZ inflates to over 50 MiB",
        "broken.svg": "damaged SVG",
    }
    for name, says in expected.items():
        row = batch.item(str(tmp_path / "in" / name))
        assert row["status"] == "failed" and says in row["error"], (name, row["error"])
        assert "TOP-SECRET" not in row["error"]
    huge = batch.item(str(tmp_path / "in" / "huge.svg"))
    assert huge["status"] == "done" and (huge["source_width"], huge["source_height"]) == (100000, 100000)
    assert batch.seconds < 30


def test_certificates_are_checked(
    qapp, https_server: LoopbackServer, http_server: LoopbackServer, tmp_path: Path
) -> None:
    direct = https_server.url("/img/tls.jpg")
    via_redirect = http_server.url(f"/redirect/1?to={https_server.url('/img/tls2.jpg')}")
    batch = run_batch(settings(tmp_path / "out", retries=0), entries_of(list_file(tmp_path, [direct, via_redirect])))
    for url in (direct, via_redirect):
        row = batch.item(url)
        assert row["status"] == "failed"
        assert row["error"].startswith("TLS certificate verification failed: "), row["error"]
        assert "self-signed" in row["error"] or "self signed" in row["error"]
    assert https_server.bytes_served() == 0  # the handshake failed: not one byte of the image left


def _exif_with_location(extra: bytes = b"") -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)  # GPSLatitudeRef, GPSLatitude
    if extra:
        exif[0x9286] = extra  # UserComment: a camera's large maker blocks look like this
    return exif


def test_metadata_is_stripped_by_default_and_a_huge_exif_never_costs_the_thumbnail(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), "green").save(photo, exif=_exif_with_location())
    huge = tmp_path / "huge-exif.tif"  # TIFF holds any EXIF size; a JPEG thumbnail cannot (64 KiB)
    Image.new("RGB", (300, 200), "blue").save(huge, exif=_exif_with_location(b"\0" * 80_000))

    def run(out: Path, *flags: str) -> list[dict]:
        report = out.with_suffix(".json")
        command = [sys.executable, "-m", "core.cli", str(photo), str(huge), "-o", str(out), "--report", str(report)]
        result = subprocess.run([*command, *flags], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(report.read_text())["items"]

    for row in run(tmp_path / "plain"):
        with Image.open(row["outputs"][0]["path"]) as thumb:
            assert not thumb.getexif() and "exif" not in thumb.info  # no location, no camera
    kept = run(tmp_path / "kept", "--keep-metadata")
    with Image.open(kept[0]["outputs"][0]["path"]) as thumb:
        assert thumb.getexif().get(0x010F) == "PhoneMaker"
    assert kept[1]["status"] == "done"  # its EXIF is dropped, the thumbnail is made


# --- memory: each resizer process runs under an address-space limit ------------------------------------------


def _address_space_limit(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resource limits as Linux has them")
def test_the_runners_resizers_run_under_a_memory_limit_set_from_max_pixels(qapp, tmp_path: Path) -> None:
    slow = tmp_path / "slow.png"
    slow.write_bytes(images.flat_png(6000, 6000, (10, 20, 30)))
    limits: list[int | None] = []

    def read_limits(runner: Runner) -> None:
        def capped() -> bool:  # a worker sets its own limit as it starts
            pids = runner.pool.worker_pids() if runner.pool is not None else []
            limits[:] = [_address_space_limit(pid) for pid in pids]
            return len(limits) == 2 and None not in limits

        wait_until(capped, 30, "two resizers under a memory limit")

    config = settings(tmp_path / "out", max_pixels=40_000_000)
    batch = run_batch(config, entries_of(list_file(tmp_path, [str(slow)])), on_start=read_limits)
    assert batch.summary.done == 1
    assert limits == [memory_limit_for(40_000_000)] * 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resource limits as Linux has them")
def test_an_image_needing_more_memory_than_the_limit_fails_alone_and_the_resizer_goes_on(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(images.flat_png(8000, 8000, (200, 10, 10)))  # 8000 x 8000 RGB: 256 MiB decoded
    small = tmp_path / "small.png"
    Image.new("RGB", (300, 200), "green").save(small)
    limit = 256 * 1024**2
    outcomes: dict[str, JobOutcome] = {}
    done = threading.Event()

    def got(name: str, outcome: JobOutcome) -> None:
        outcomes[name] = outcome
        if len(outcomes) == 2:
            done.set()

    pool = ResizePool(1, memory_limit=limit)
    try:
        spec = ResizeSpec(max_pixels=100_000_000)
        pool.submit(ResizeJob(str(big), str(tmp_path / "out"), "big", spec), lambda o: got("big", o))
        pool.submit(ResizeJob(str(small), str(tmp_path / "out"), "small", spec), lambda o: got("small", o))
        assert done.wait(60)
        pids = pool.worker_pids()
    finally:
        pool.shutdown()
    failed = outcomes["big"]
    assert failed.result is None and not failed.fatal
    assert failed.error == (
        "not enough memory to decode this 8000x8000 PNG "
        f"(a resizer may use {format_bytes(limit)}, set from --max-pixels)"
    )
    assert outcomes["small"].result is not None  # the same worker went on: a clean failure, not a crash
    assert len(pids) == 1


def test_a_pdf_runs_no_script_and_follows_no_link(qapp, http_server: LoopbackServer, tmp_path: Path) -> None:
    """A page whose opening runs JavaScript that calls the test server, with a link, a form submission, a remote
    go-to and a launch all aimed at it: the thumbnail is made and the server hears nothing."""
    to = http_server.url
    actions = (
        f"/Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 200 100] /A << /S /URI /URI ({to('/link')}) >> >>]"
        f" /AA << /O << /S /JavaScript /JS (app.launchURL\\('{to('/js')}'\\); this.getURL\\('{to('/get')}'\\);)"
        f" /Next << /S /SubmitForm /F << /FS /URL /F ({to('/submit')}) >> >> >>"
        f" /C << /S /GoToR /F << /FS /URL /F ({to('/remote')}) >> /D [0 /Fit] /Next << /S /Launch /F ({to('/x')}) >> >>"
        " >>"
    )
    document = tmp_path / "actions.pdf"
    document.write_bytes(pdfs.pdf(pdfs.Page(extra=actions.encode())))
    with pypdfium2.PdfDocument(document.read_bytes()) as pdf:  # PDFium reads the link
        page = pdf[0]
        assert pypdfium2.raw.FPDFPage_GetAnnotCount(page) == 1
        page.close()
    listing = list_file(tmp_path / "lists", [str(document)])
    batch = run_batch(settings(tmp_path / "out"), entries_of(listing))
    (row,) = batch.items
    assert row["status"] == "done", row["error"]
    (thumb,) = output_files(batch, row)
    with Image.open(thumb) as image:
        red, green, blue = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
        assert red > 240 and green < 15 and blue < 15
    assert http_server.total_hits() == 0
