"""``Module.load`` on hostile and broken files: refuse before allocating or reading data.

The crafted archives are built for real on disk. The 2 GiB member is a genuine
deflate stream of a valid .npy array (its CRC is right), written from a repeated
compressed block, so building it costs ~2 MB and milliseconds instead of
compressing 2 GiB of zeros.
"""

import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from numpy.lib import format as npy_format

from upsamplex import nn

GIB2 = 2**31
PEAK_LIMIT = 8 * 2**20  # bytes: the models here are tiny, a refused file must stay tiny too


def make_model(seed=0):
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, dtype=np.float64, rng=seed),
        nn.ReLU(),
        nn.ConvTranspose2d(3, 1, 2, stride=2, dtype=np.float64, rng=seed + 1),
    )


# ---------------------------------------------------------------- building zips by hand
def crc32_zeros(n, crc=0):
    """``zlib.crc32(bytes(n), crc)`` without touching n bytes.

    Feeding a zero byte to the CRC register is linear over GF(2), so n zero
    bytes are the 32x32 bit matrix of one byte raised to the n-th power.
    """
    mask = 0xFFFFFFFF

    def one_byte(reg):
        return zlib.crc32(b"\0", reg ^ mask) ^ mask

    def apply(mat, vec):
        out, i = 0, 0
        while vec:
            if vec & 1:
                out ^= mat[i]
            vec >>= 1
            i += 1
        return out

    def mul(a, b):
        return [apply(a, col) for col in b]

    power = [one_byte(1 << i) for i in range(32)]
    result = [1 << i for i in range(32)]
    while n:
        if n & 1:
            result = mul(power, result)
        power = mul(power, power)
        n >>= 1
    return apply(result, crc ^ mask) ^ mask


def test_crc32_zeros_helper():
    for n in (0, 1, 7, 4096, 100_003):
        assert crc32_zeros(n, 12345) == zlib.crc32(bytes(n), 12345)


def npy_header(shape, dtype, fortran=False):
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(
        buf, {"descr": npy_format.dtype_to_descr(np.dtype(dtype)), "fortran_order": fortran,
              "shape": tuple(shape)}
    )
    return buf.getvalue()


def npy_bytes(arr):
    buf = io.BytesIO()
    npy_format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def stored(name, data):
    """A member stored uncompressed: (name, chunks, crc, uncompressed size, method)."""
    return (name, [data], zlib.crc32(data), len(data), zipfile.ZIP_STORED)


def deflated_zeros(name, header, n_zeros):
    """``header`` followed by ``n_zeros`` zero bytes, deflated; n_zeros a multiple of 1 MiB."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor starts afresh, so every 1 MiB block of zeros
    # compresses to the same bytes (asserted): repeat that block instead of recompressing.
    block = comp.compress(bytes(2**20)) + comp.flush(zlib.Z_FULL_FLUSH)
    assert comp.compress(bytes(2**20)) + comp.flush(zlib.Z_FULL_FLUSH) == block
    tail = comp.flush(zlib.Z_FINISH)
    chunks = [head] + [block] * (n_zeros // 2**20) + [tail]
    crc = crc32_zeros(n_zeros, zlib.crc32(header))
    return (name, chunks, crc, len(header) + n_zeros, zipfile.ZIP_DEFLATED)


def write_zip(path, members):
    """Write a plain (non-zip64) zip archive of ``members`` to ``path``, streamed."""
    central = []
    with open(path, "wb") as f:
        for name, chunks, crc, size, method in members:
            offset, raw = f.tell(), name.encode()
            csize = sum(len(c) for c in chunks)
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, csize,
                                size, len(raw), 0) + raw)
            for chunk in chunks:
                f.write(chunk)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0,
                                       0x21, crc, csize, size, len(raw), 0, 0, 0, 0, 0, offset)
                           + raw)
        start = f.tell()
        f.write(b"".join(central))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                            f.tell() - start, start, 0))


def good_members(model, skip=()):
    return [stored(k + ".npy", npy_bytes(v)) for k, v in model.state_dict().items()
            if k not in skip]


def load_traced(model, path, **kwargs):
    """``model.load(path)``: return (exception or None, peak traced bytes, seconds)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        model.load(path, **kwargs)
        error = None
    except Exception as exc:  # noqa: BLE001 - the caller checks type and message
        error = exc
    finally:
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak, seconds


def assert_unchanged(model, before):
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


# ---------------------------------------------------------------- hostile archives
@pytest.fixture(scope="module")
def big_extra_member(tmp_path_factory):
    """A valid .npz for make_model() plus an extra member of 2 GiB of zeros (~2 MB on disk)."""
    path = tmp_path_factory.mktemp("hostile") / "extra.npz"
    header = npy_header((GIB2 // 8,), np.float64)
    write_zip(path, good_members(make_model(5)) + [deflated_zeros("extra.npy", header, GIB2)])
    return path


def test_crafted_member_is_genuine(big_extra_member):
    """The 2 GiB member really is 2 GiB of a valid array, as zip and numpy see it."""
    assert big_extra_member.stat().st_size < 4 * 2**20
    with zipfile.ZipFile(big_extra_member) as zf:
        info = zf.getinfo("extra.npy")
        assert info.file_size == GIB2 + 128 and info.compress_size < 4 * 2**20
        with zf.open(info) as stream:
            assert npy_format.read_magic(stream) == (1, 0)
            assert npy_format.read_array_header_1_0(stream) == ((GIB2 // 8,), False,
                                                                np.dtype(np.float64))
            assert stream.read(2**20) == bytes(2**20)


def test_big_unexpected_member_is_refused_unread(big_extra_member):
    model = make_model()
    before = model.state_dict()
    error, peak, seconds = load_traced(model, big_extra_member)
    assert isinstance(error, KeyError)
    assert "unexpected key(s) 'extra'" in str(error) and "extra.npz" in str(error)
    assert peak < PEAK_LIMIT and seconds < 2
    assert_unchanged(model, before)


def test_big_unexpected_member_is_skipped_unread_when_not_strict(big_extra_member):
    model = make_model()
    error, peak, seconds = load_traced(model, big_extra_member, strict=False)
    assert error is None and peak < PEAK_LIMIT and seconds < 2
    assert_unchanged(model, make_model(5).state_dict())


def test_member_larger_than_its_header_is_refused_unread(tmp_path):
    """A header that matches the parameter, followed by 2 GiB it does not mention."""
    model = make_model()
    path = tmp_path / "oversized.npz"
    member = deflated_zeros("0.bias.npy", npy_header((3,), np.float64), GIB2)
    write_zip(path, good_members(model, skip={"0.bias"}) + [member])
    error, peak, seconds = load_traced(make_model(1), path)
    assert isinstance(error, ValueError)
    msg = str(error)
    assert "key '0.bias'" in msg and "oversized.npz" in msg
    assert f"holds {GIB2 + 128} bytes but its header describes 152" in msg
    assert peak < PEAK_LIMIT and seconds < 2


@pytest.mark.parametrize("strict", [True, False])
def test_header_claiming_a_huge_shape_is_refused(tmp_path, strict):
    model = make_model()
    path = tmp_path / "huge.npz"
    member = stored("2.weight.npy", npy_header((2**40,), np.float64) + bytes(64))
    write_zip(path, good_members(model, skip={"2.weight"}) + [member])
    before = model.state_dict()
    error, peak, _ = load_traced(model, path, strict=strict)
    assert isinstance(error, ValueError)
    assert "shape mismatch for '2.weight'" in str(error)
    assert "(3, 1, 2, 2)" in str(error) and "(1099511627776,)" in str(error)
    assert "huge.npz" in str(error) and peak < PEAK_LIMIT
    assert_unchanged(model, before)


def test_header_of_right_shape_over_too_few_bytes_is_refused(tmp_path):
    model = make_model()
    path = tmp_path / "short.npz"
    member = stored("2.weight.npy", npy_header((3, 1, 2, 2), np.float64) + bytes(40))
    write_zip(path, good_members(model, skip={"2.weight"}) + [member])
    with pytest.raises(ValueError, match=r"key '2.weight' .*holds 168 bytes but its header "
                                         r"describes 224"):
        model.load(path)


@pytest.mark.parametrize(
    "descr, match",
    [
        ("<f4", r"dtype mismatch for '0.bias': the model has float64, '.*' has float32"),
        (">f8", r"dtype mismatch for '0.bias': the model has float64, '.*' has >f8"),
        ("|O", r"key '0.bias' of '.*' holds Python objects .*never unpickles"),
        ([("a", "<f8")], r"dtype mismatch for '0.bias'"),
    ],
)
def test_header_dtype_must_match(tmp_path, descr, match):
    model = make_model()
    path = tmp_path / "dtype.npz"
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                            "shape": (3,)})
    member = stored("0.bias.npy", buf.getvalue() + bytes(24))
    write_zip(path, good_members(model, skip={"0.bias"}) + [member])
    with pytest.raises(ValueError, match=match):
        model.load(path)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"not a numpy file at all", "has no valid .npy header"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 7}   \n", "has no valid .npy header"),
        (b"\x93NUMPY\x07\x00", "has no valid .npy header"),
        (b"", "has no valid .npy header"),
    ],
)
def test_corrupt_member_header(tmp_path, payload, match):
    model = make_model()
    path = tmp_path / "badhdr.npz"
    write_zip(path, good_members(model, skip={"0.bias"}) + [stored("0.bias.npy", payload)])
    with pytest.raises(ValueError, match=f"key '0.bias' of '.*badhdr.npz' {match}"):
        model.load(path)


def test_duplicate_and_non_npy_members(tmp_path):
    model = make_model()
    path = tmp_path / "dup.npz"
    write_zip(path, good_members(model) + good_members(model)[:1])
    with pytest.raises(ValueError, match=r"holds key '0.weight' twice"):
        model.load(path)
    write_zip(path, good_members(model, skip={"0.bias"})
              + [stored("0.bias", npy_bytes(np.zeros(3)))])
    with pytest.raises(ValueError, match=r"key '0.bias' of .* is not an .npy member"):
        model.load(path)


# ---------------------------------------------------------------- broken and wrong files
def test_plain_npy_file(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=r"'.*weights.npy' is a single-array .npy file"):
        make_model().load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"'.*empty.npz' is empty, not an .npz archive"):
        make_model().load(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"'.*text.npz' is not an .npz archive"):
        make_model().load(path)


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95, -1])
def test_truncated_zip(tmp_path, keep):
    model = make_model()
    path = tmp_path / "cut.npz"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:keep])
    with pytest.raises(ValueError, match=r"'.*cut.npz' is a truncated or corrupt .npz archive"):
        make_model().load(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_corrupt_data_is_refused_and_nothing_copied(tmp_path, compressed):
    path = tmp_path / "flipped.npz"
    saver = np.savez_compressed if compressed else np.savez
    saver(path, **make_model(3).state_dict())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("2.bias.npy")  # the last member: the others are read first
        data_at = info.header_offset + 30 + len(info.filename) + len(info.extra)
        data_len = info.compress_size
    raw = bytearray(path.read_bytes())
    raw[data_at + data_len - 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    model = make_model()
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"key '2.bias' of '.*flipped.npz' (is corrupt|has no)"):
        model.load(path)
    assert_unchanged(model, before)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file \(nor '.*nothing.npz'\)"):
        make_model().load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no such file") as info:
        make_model().load(tmp_path / "nothing.npz")
    assert info.value.filename.endswith("nothing.npz")


@pytest.mark.parametrize("path", [3, None, 1.5])
def test_path_type(path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        make_model().load(path)


# ---------------------------------------------------------------- what must keep working
def test_compressed_fortran_and_str_paths_load(tmp_path):
    source = make_model(7)
    state = {k: np.asfortranarray(v) for k, v in source.state_dict().items()}
    path = tmp_path / "fortran.npz"
    np.savez_compressed(path, **state)
    model = make_model()
    assert model.load(str(path)) is model
    assert_unchanged(model, source.state_dict())


def test_non_strict_load_of_a_partial_file(tmp_path):
    source, model = make_model(7), make_model()
    path = tmp_path / "partial.npz"
    np.savez(path, **{"2.bias": source[2].bias.data, "other": np.zeros(10**6)})
    before = model.state_dict()
    error, peak, _ = load_traced(model, path, strict=False)
    assert error is None and peak < PEAK_LIMIT  # 'other' (8 MB) is never read
    np.testing.assert_array_equal(model[2].bias.data, source[2].bias.data)
    np.testing.assert_array_equal(model[0].weight.data, before["0.weight"])
    with pytest.raises(KeyError, match=r"missing key\(s\) '0.weight', '0.bias', '2.weight'; "
                                       r"unexpected key\(s\) 'other'"):
        model.load(path)


@pytest.mark.parametrize("method, flags, match", [
    (99, 0, "has no valid .npy header: .*compression"),  # an unknown compression method
    (zipfile.ZIP_STORED, 0x1, "has no valid .npy header: .*encrypted"),
])
def test_unreadable_member(tmp_path, method, flags, match):
    model = make_model()
    path = tmp_path / "odd.npz"
    data = npy_bytes(np.zeros(3))
    members = good_members(model, skip={"0.bias"}) + [
        ("0.bias.npy", [data], zlib.crc32(data), len(data), method)]
    write_zip(path, members)
    if flags:  # set the encryption bit in the local and central headers
        raw = bytearray(path.read_bytes())
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            pos = raw.rfind(sig + (b"\x14\x00" if sig == b"PK\x03\x04" else b"\x14\x00\x14\x00"))
            raw[pos + at] |= flags
        path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=f"key '0.bias' of '.*odd.npz' {match}"):
        model.load(path)
