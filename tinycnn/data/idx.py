"""Reading one IDX file (gzipped or raw), with every way it can be broken named.

The IDX format (LeCun's, used by MNIST and Fashion-MNIST): two zero bytes, a
type code (0x08 = unsigned byte), the number of dimensions d, then d
big-endian uint32 sizes, then the values in row-major order. We check the
header and the length ourselves, so that a damaged file gets a message that
says what is wrong, and leave the parsing to idx2numpy.
"""

import gzip
import hashlib
import zlib

import idx2numpy
import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
UNSIGNED_BYTE = 0x08


class DataError(Exception):
    """A data file is missing or damaged. The message names the file and what is wrong."""


def read_idx_bytes(path):
    """The decompressed bytes of ``path`` (a .gz file, or a raw IDX file)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    if path.suffix != ".gz":
        return raw
    if not raw.startswith(GZIP_MAGIC):
        raise DataError(f"{path}: not a gzip file (it does not start with the gzip magic bytes 1f 8b)")
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: truncated gzip file (the compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{path}: corrupt gzip file ({error})") from None


def parse_idx(data, path, ndim):
    """Check the IDX header and size of ``data``, then parse it with idx2numpy.

    Returns an array of ``ndim`` dimensions of unsigned bytes, read-only (idx2numpy's: a view of bytes).
    """
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, not even a header)")
    if data[0] != 0 or data[1] != 0 or data[2] != UNSIGNED_BYTE or data[3] != ndim:
        raise DataError(
            f"{path}: bad IDX magic number {data[:4].hex()} (expected 0000{UNSIGNED_BYTE:02x}{ndim:02x}: "
            f"unsigned bytes in {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header_size})")
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: wrong size: {problem} ({len(data)} bytes, the header's shape {shape} needs {expected})"
        )
    return idx2numpy.convert_from_string(data)


def read_idx(path, ndim, expected_sha256=None):
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions; verify its SHA-256 if given.

    The checksum is that of the decompressed bytes.
    """
    return read_idx_and_digest(path, ndim, expected_sha256)[0]


def read_idx_and_digest(path, ndim, expected_sha256=None):
    """``read_idx``, and the SHA-256 of the decompressed bytes (hex), which names the data in a run's record."""
    data = read_idx_bytes(path)
    actual = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and actual != expected_sha256:
        raise DataError(
            f"{path}: checksum mismatch: SHA-256 of the decompressed data is {actual}, "
            f"SHA256SUMS says {expected_sha256}; the file is damaged or was replaced "
            f"(restore the shipped copy with `git checkout -- {path.name}` in its folder)"
        )
    return parse_idx(data, path, ndim), actual
