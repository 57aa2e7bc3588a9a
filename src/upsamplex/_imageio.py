"""Image files in and out for the ``upsamplex`` command (the ``upsamplex[cli]`` extra).

Pillow reads and writes PNG, JPEG, WebP and BMP; tifffile reads and writes TIFF (8/16-bit,
float, multi-page, BigTIFF); NumPy reads ``.npy``. Every image becomes an array plus an axes
string in tifffile's letters: ``Y`` and ``X`` are the spatial axes that get resampled, ``S``
the colour samples, anything else (``I`` pages, ``Z``, ``T``, ``C``...) is carried through.

Every problem a user can cause (missing file, corrupt data, a format that cannot hold the
result) raises :class:`ImageError` with a one-line message; the command prints it as is.
"""

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

FORMATS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
    ".webp": "WEBP", ".bmp": "BMP", ".npy": "NPY",
}
PIL_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
# What Pillow can carry over into each format it writes.
_CARRY = {
    "PNG": ("icc_profile", "dpi", "exif"),
    "JPEG": ("icc_profile", "dpi", "exif"),
    "WEBP": ("icc_profile", "exif"),
    "BMP": ("dpi",),
}


class ImageError(Exception):
    """A problem with an image file, worded for the person who ran the command."""


@dataclass
class Image:
    data: np.ndarray
    axes: str                       # one letter per axis of `data`; 'Y' and 'X' always present
    format: str                     # 'PNG', 'JPEG', 'TIFF', 'WEBP', 'BMP' or 'NPY'
    info: dict = field(default_factory=dict)   # icc_profile, dpi, exif, resolution...
    notes: list = field(default_factory=list)  # what was done on the way in (EXIF rotation...)

    @property
    def height(self):
        return self.data.shape[self.axes.index("Y")]

    @property
    def width(self):
        return self.data.shape[self.axes.index("X")]

    @property
    def channels(self):
        return self.data.shape[self.axes.index("S")] if "S" in self.axes else 1

    @property
    def pages(self):
        return int(np.prod([n for n, a in zip(self.data.shape, self.axes) if a not in "YXS"]))


def format_of(path):
    """The format name for a path's extension; ImageError for an unknown one."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        shown = f"'{suffix}'" if suffix else "no extension"
        raise ImageError(f"{path}: unknown image format ({shown}); known: {known}")
    return FORMATS[suffix]


def _check_readable(path):
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: cannot read (permission denied)")


def read_image(path):
    """Read an image file into an :class:`Image`."""
    fmt = format_of(path)
    _check_readable(path)
    try:
        if fmt == "NPY":
            return _read_npy(path)
        if fmt == "TIFF":
            return _read_tiff(path)
        return _read_pil(path, fmt)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to read this image") from None
    except PermissionError:
        raise ImageError(f"{path}: cannot read (permission denied)") from None
    except Exception as exc:  # decoders raise anything from ValueError to struct.error
        raise ImageError(f"{path}: cannot read {fmt} ({_one_line(exc)})") from None


def _one_line(exc):
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _read_npy(path):
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ImageError(f"{path}: not a plain .npy array ({_one_line(exc)})") from None
    except EOFError:
        raise ImageError(f"{path}: truncated .npy file") from None
    if not isinstance(data, np.ndarray) or data.dtype.fields is not None:
        raise ImageError(f"{path}: .npy must hold one plain array")
    axes = {2: "YX", 3: "YXS", 4: "IYXS"}.get(data.ndim)
    if axes is None:
        raise ImageError(f"{path}: .npy array must be (H, W), (H, W, C) or (N, H, W, C), "
                         f"got shape {data.shape}")
    return Image(data, axes, "NPY")


def _read_tiff(path):
    try:
        tif = tifffile.TiffFile(path)
    except tifffile.TiffFileError as exc:
        raise ImageError(f"{path}: not a valid TIFF ({_one_line(exc)})") from None
    with tif:
        series = [s for s in tif.series if not getattr(s, "is_reduced", False)]
        if not series:
            raise ImageError(f"{path}: TIFF holds no image")
        if len(series) > 1:
            raise ImageError(f"{path}: TIFF holds {len(series)} image series of different "
                             "shapes; upsamplex resizes files with one series")
        s = series[0]
        data = s.asarray()
        axes = s.axes
        if "Y" not in axes or "X" not in axes:
            raise ImageError(f"{path}: TIFF series has axes {axes!r}, no Y and X axes")
        page = s.pages[0] if s.pages else tif.pages[0]
        info = {"photometric": page.photometric}
        try:
            info["resolution"] = page.get_resolution()
            info["resolutionunit"] = page.resolutionunit
        except Exception:  # resolution tags are optional and sometimes malformed
            pass
        if int(page.compression) in (8, 32946):        # deflate: zlib, needs no codec
            info["compression"] = "zlib"
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("="))
    return Image(data, axes, "TIFF", info)


def _read_pil(path, fmt):
    try:
        src = PILImage.open(path)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a valid {fmt} image (corrupt, or another format)") \
            from None
    except (OSError, SyntaxError, ValueError) as exc:  # a header Pillow began to parse
        raise ImageError(f"{path}: corrupt or truncated {fmt} ({_one_line(exc)})") from None
    with src:
        try:
            src.load()
        except OSError as exc:
            raise ImageError(f"{path}: corrupt or truncated {fmt} ({_one_line(exc)})") from None
        notes = []
        n_frames = getattr(src, "n_frames", 1)
        if n_frames > 1:
            notes.append(f"{n_frames} frames: only the first is resized")
        orientation = src.getexif().get(0x0112, 1)
        im = ImageOps.exif_transpose(src)
        if orientation not in (1, None):
            notes.append(f"EXIF orientation {orientation} applied")
        info = {}
        if im.info.get("icc_profile"):
            info["icc_profile"] = im.info["icc_profile"]
        if im.info.get("dpi"):
            info["dpi"] = tuple(float(d) for d in im.info["dpi"])
        exif = im.getexif()
        if len(exif):
            info["exif"] = exif.tobytes()
        im = _to_array_mode(im)
        data = np.asarray(im)
    if data.dtype == np.int32 and fmt == "PNG" and data.size and data.min() >= 0 \
            and data.max() <= 65535:
        data = data.astype(np.uint16)  # Pillow's 'I' mode for a 16-bit grey PNG
    elif data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("="))
    axes = "YX" if data.ndim == 2 else "YXS"
    return Image(np.ascontiguousarray(data), axes, fmt, info, notes)


def _to_array_mode(im):
    """Convert Pillow's modes to ones that map onto a plain array (no palettes, no bits)."""
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return im.convert("RGB")
    return im  # L, LA, RGB, RGBA, I;16*, I, F


def write_image(path, img, quality=None):
    """Write an :class:`Image` to `path` (its extension picks the format), atomically."""
    path = Path(path)
    fmt = format_of(path)
    _check_writable(path, img, fmt)
    # Write next to the target and rename: a failure never leaves half a file behind,
    # and reading an input that is also the output (with --force) stays safe.
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        if fmt == "NPY":
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(img.data), allow_pickle=False)
        elif fmt == "TIFF":
            _write_tiff(tmp, img)
        else:
            _write_pil(tmp, img, fmt, quality)
        os.replace(tmp, path)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{path}: cannot write (permission denied)") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot write ({_one_line(exc)})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_writable(path, img, fmt):
    """ImageError when `fmt` cannot hold `img` (dtype, channels, pages)."""
    if fmt in ("NPY", "TIFF"):
        return
    dt, c = img.data.dtype, img.channels
    if img.pages > 1:
        raise ImageError(f"{path}: {fmt} holds one image, this one has {img.pages} pages; "
                         "write .tif or .npy")
    if "S" in img.axes and img.axes[-1] != "S":
        raise ImageError(f"{path}: {fmt} needs the colour samples last; write .tif or .npy")
    if dt == np.uint16 and c == 1 and fmt == "PNG":
        return
    if dt != np.uint8:
        raise ImageError(f"{path}: {fmt} cannot store {dt} data"
                         + (" (PNG: 16-bit greyscale only)" if dt == np.uint16 else "")
                         + "; write .tif or .npy")
    allowed = {"JPEG": (1, 3), "BMP": (1, 3, 4), "WEBP": (1, 2, 3, 4), "PNG": (1, 2, 3, 4)}[fmt]
    if c not in allowed:
        extra = " (no alpha channel)" if fmt == "JPEG" and c in (2, 4) else ""
        raise ImageError(f"{path}: {fmt} cannot store {c}-channel images{extra}; "
                         "write .png, .tif or .npy")


def _write_pil(path, img, fmt, quality):
    data = np.ascontiguousarray(img.data)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    im = PILImage.fromarray(data)
    if fmt == "WEBP" and im.mode in ("L", "LA"):
        im = im.convert("RGB" if im.mode == "L" else "RGBA")  # WebP has no grey mode
    kwargs = {k: img.info[k] for k in _CARRY[fmt] if img.info.get(k)}
    if quality is not None and fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    im.save(path, format=fmt, **kwargs)


def _write_tiff(path, img):
    data = np.ascontiguousarray(img.data)
    kwargs = {}
    if "S" in img.axes and img.channels in (3, 4) and data.dtype.kind in "uif":
        kwargs["photometric"] = "rgb"
        if img.channels == 4:
            kwargs["extrasamples"] = ["unassalpha"]
    else:
        kwargs["photometric"] = "minisblack"
    if img.info.get("resolution") is not None:
        res = img.info["resolution"]
        kwargs["resolution"] = (float(res[0]), float(res[1]))
        if img.info.get("resolutionunit") is not None:
            kwargs["resolutionunit"] = img.info["resolutionunit"]
    if img.info.get("compression"):
        kwargs["compression"] = img.info["compression"]
    # Classic TIFF's offsets are 32-bit: anything near 4 GiB must be BigTIFF.
    bigtiff = data.nbytes > 2**32 - 2**25
    tifffile.imwrite(path, data, bigtiff=bigtiff, metadata={"axes": img.axes}, **kwargs)
