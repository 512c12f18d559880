"""The benchmark corpus: seeded, photo-like images made here, cached under build/bench-corpus/.

Flat colours would flatter every decoder (their JPEG entropy data is tiny), so each image is a blurred scene of
gradients and shapes, sharp strokes on top, and noise at three scales, which compresses like a photo
(3000x2000 at q90 is about 2 MB). The cache folder's name holds every parameter, so a repeat run with the same
seed and sizes reuses the files and a change makes a new set.
"""

from __future__ import annotations

import functools
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

CACHE = Path(__file__).resolve().parent.parent / "build" / "bench-corpus"
DONE_MARK = ".complete"
VERSION = 1  # of the generator: part of the cache key


@dataclass(frozen=True)
class CorpusSpec:
    seed: int = 6
    jpegs: int = 300
    jpeg_size: tuple[int, int] = (3000, 2000)
    jpeg_quality: int = 90
    pngs: int = 80
    png_size: tuple[int, int] = (1600, 1200)

    @property
    def key(self) -> str:
        (jw, jh), (pw, ph) = self.jpeg_size, self.png_size
        return f"v{VERSION}-s{self.seed}-j{self.jpegs}x{jw}x{jh}q{self.jpeg_quality}-p{self.pngs}x{pw}x{ph}"


@dataclass(frozen=True)
class Corpus:
    folder: Path
    files: tuple[Path, ...]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


NOISE_MARGIN = 512


@functools.cache
def _noise_field(w: int, h: int, sigma: float, scale: int) -> Image.Image:
    """RGB noise centred on 128, made at 1/scale size and enlarged: grain at one spatial frequency.

    Made once per process with a margin and cropped at a random offset per image: generating it is most of
    the cost of an image, and a shifted field is as incompressible as a fresh one."""
    fw, fh = w + NOISE_MARGIN, h + NOISE_MARGIN
    sw, sh = max(1, fw // scale), max(1, fh // scale)
    im = Image.merge("RGB", [Image.effect_noise((sw, sh), sigma) for _ in range(3)])
    return im if scale == 1 else im.resize((fw, fh), Image.Resampling.BICUBIC)


def _noise(rng: random.Random, w: int, h: int, sigma: float, scale: int) -> Image.Image:
    x, y = rng.randrange(NOISE_MARGIN), rng.randrange(NOISE_MARGIN)
    return _noise_field(w, h, sigma, scale).crop((x, y, x + w, y + h))


def photo(rng: random.Random, w: int, h: int, grain: float) -> Image.Image:
    """A photo-like RGB image: soft scene, sharp details, noise at coarse, medium and fine scales."""
    sw, sh = max(8, w // 8), max(8, h // 8)
    ramp = Image.linear_gradient("L").resize((sw, sh))
    bands = []
    for _ in range(3):
        lo, hi = rng.randint(0, 255), rng.randint(0, 255)
        turned = ramp.rotate(rng.uniform(0, 360), resample=Image.Resampling.BILINEAR, fillcolor=lo)
        bands.append(turned.point(lambda v, lo=lo, hi=hi: lo + (hi - lo) * v // 255))
    scene = Image.merge("RGB", bands)
    draw = ImageDraw.Draw(scene)
    for _ in range(rng.randint(8, 20)):
        x0, y0 = rng.randint(-sw // 4, sw), rng.randint(-sh // 4, sh)
        x1, y1 = x0 + rng.randint(4, sw // 2), y0 + rng.randint(4, sh // 2)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            points = [(rng.randint(x0, x1), rng.randint(y0, y1)) for _ in range(rng.randint(3, 6))]
            draw.polygon(points, fill=colour)
    im = scene.filter(ImageFilter.GaussianBlur(2)).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(20, 60)):
        x0, y0 = rng.randint(0, w), rng.randint(0, h)
        x1, y1 = x0 + rng.randint(-w // 4, w // 4), y0 + rng.randint(-h // 4, h // 4)
        draw.line((x0, y0, x1, y1), fill=tuple(rng.randint(0, 255) for _ in range(3)), width=rng.randint(1, 6))
    for sigma, scale in ((3 * grain, 16), (2 * grain, 4), (grain, 1)):
        im = ImageChops.add(im, _noise(rng, w, h, sigma, scale), 1.0, -128)
    return im


def cutout(rng: random.Random, w: int, h: int) -> Image.Image:
    """An RGBA product-shot-like image: a photo inside soft-edged shapes on a transparent background."""
    im = photo(rng, w, h, grain=3.0)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.randint(0, w * 2 // 3), rng.randint(0, h * 2 // 3)
        x1, y1 = x0 + rng.randint(w // 6, w // 2), y0 + rng.randint(h // 6, h // 2)
        draw.ellipse((x0, y0, x1, y1), fill=rng.randint(160, 255))
    alpha = mask.filter(ImageFilter.GaussianBlur(12))
    im.putalpha(alpha)
    # Fully transparent pixels hold zeros, as editors export cut-outs: the colour there is never seen.
    return Image.composite(im, Image.new("RGBA", (w, h)), alpha.point(lambda a: 255 if a else 0))


def _make(job: tuple[str, int, Path, CorpusSpec]) -> Path:
    kind, index, folder, spec = job
    rng = random.Random(f"{spec.seed}-{kind}-{index}")
    if kind == "jpg":
        path = folder / f"photo-{index:04d}.jpg"
        photo(rng, *spec.jpeg_size, grain=6.0).save(path, "JPEG", quality=spec.jpeg_quality)
    else:
        path = folder / f"cutout-{index:04d}.png"
        cutout(rng, *spec.png_size).save(path, "PNG")
    return path


def make_corpus(spec: CorpusSpec, cache: Path = CACHE, workers: int = 2) -> Corpus:
    """The corpus for `spec`, generated on first use (in `workers` processes) and reused afterwards."""
    folder = cache / spec.key
    jobs = [("jpg", i, folder, spec) for i in range(spec.jpegs)] + [("png", i, folder, spec) for i in range(spec.pngs)]
    if not (folder / DONE_MARK).exists():
        folder.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make, jobs, chunksize=4))
        (folder / DONE_MARK).touch()
    # Interleaved so both halves of any split (and any prefix) hold JPEGs and PNGs in the same proportion.
    jpgs = sorted(folder.glob("photo-*.jpg"))
    pngs = sorted(folder.glob("cutout-*.png"))
    files: list[Path] = []
    step = len(jpgs) / max(1, len(pngs))
    pi = 0
    for ji, jpg in enumerate(jpgs):
        while pi < len(pngs) and pi * step <= ji:
            files.append(pngs[pi])
            pi += 1
        files.append(jpg)
    files.extend(pngs[pi:])
    return Corpus(folder, tuple(files))


def make_small(count: int = 16, size: tuple[int, int] = (640, 427), seed: int = 6, cache: Path = CACHE) -> list[Path]:
    """A few small photos for the window's benchmarks, where the batch must be long (10,000 URLs) but quick."""
    folder = cache / f"v{VERSION}-small-s{seed}-{count}x{size[0]}x{size[1]}"
    if not (folder / DONE_MARK).exists():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rng = random.Random(f"{seed}-small-{i}")
            photo(rng, *size, grain=6.0).save(folder / f"small-{i:03d}.jpg", "JPEG", quality=90)
        (folder / DONE_MARK).touch()
    return sorted(folder.glob("small-*.jpg"))


def distinct_copies(files: list[Path], count: int, cache: Path = CACHE) -> list[Path]:
    """`count` JPEGs that decode like `files` (in turn) but whose bytes all differ: a comment segment after the
    start marker names each. A batch of repeated bytes would be decoded once per distinct file (identical
    downloads are deduplicated), so a long batch that must load the resizers needs files of its own."""
    folder = cache / f"v{VERSION}-distinct-{files[0].parent.name}-{count}"
    if not (folder / DONE_MARK).exists():
        folder.mkdir(parents=True, exist_ok=True)
        bodies = [f.read_bytes() for f in files]
        for i in range(count):
            body, note = bodies[i % len(bodies)], f"copy {i}".encode()
            comment = b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
            (folder / f"photo-{i:05d}.jpg").write_bytes(body[:2] + comment + body[2:])
        (folder / DONE_MARK).touch()
    return sorted(folder.glob("photo-*.jpg"))
