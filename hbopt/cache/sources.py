"""What ``hbopt data import`` reads: files, folders and globs of them, and zips as exchanges
publish them (Binance's public dumps: one CSV per zip, a ``.CHECKSUM`` beside it holding its
SHA-256), each checked before a byte of it is parsed."""
from __future__ import annotations

import glob
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hbopt.errors import DataError

TABLE_SUFFIXES = (".csv", ".zip", ".parquet")
MAX_UNZIPPED = 2 << 30  # a month of 1s candles is ~250 MB of CSV; more is not a candle file


@dataclass(frozen=True)
class Source:
    """A table's bytes and the file name they are known by (``X.zip:X.csv`` for a zip's CSV)."""

    name: str
    data: bytes
    parquet: bool = False


def expand(specs) -> list[Path]:
    """The files ``specs`` name, in order, each once: a file as given; a folder's candle and funding
    files (``*.csv``, ``*.zip``, ``*.parquet``, not its subfolders), sorted by name; a glob's
    matches, sorted. A :class:`DataError` for a name that matches nothing."""
    found: list[Path] = []
    for spec in map(str, specs):
        path = Path(spec)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
            if not matches:
                raise DataError(f"{spec}: no {', '.join('*' + s for s in TABLE_SUFFIXES)} file in this folder")
        elif path.exists() or not glob.has_magic(spec):
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
            if not matches:
                raise DataError(f"{spec}: no file matches")
        found += [p for p in matches if p not in found]
    if not found:
        raise DataError("no file to import")
    return found


def read_source(path: Path) -> Source:
    """The bytes of a CSV or parquet file, or of the one CSV a zip holds once the zip's
    ``.CHECKSUM`` (if one lies beside it) is verified; a :class:`DataError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if path.suffix.lower() != ".zip":
        return Source(path.name, data, parquet=path.suffix.lower() == ".parquet")
    verify_checksum(path, data)
    return _unzipped(path.name, data)


def verify_checksum(path: Path, data: bytes) -> None:
    """A :class:`DataError` unless ``data``'s SHA-256 is the one ``PATH.CHECKSUM`` holds (as
    ``sha256sum`` writes it: the hex digest, then the file name); nothing to check without one."""
    checksum = path.with_name(path.name + ".CHECKSUM")
    if not checksum.is_file():
        return
    words = checksum.read_text(errors="replace").split()
    expected = words[0].lower() if words else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise DataError(f"{checksum.name} holds no SHA-256 digest")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataError(f"{path.name}: its SHA-256 is {actual[:16]}..., its {checksum.name} says {expected[:16]}...: "
                        "the file is damaged or incomplete; download it again (nothing was stored)")


def _unzipped(name: str, data: bytes) -> Source:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1 or Path(members[0].filename).suffix.lower() not in (".csv", ".parquet"):
                listed = ", ".join(m.filename for m in members[:5]) or "nothing"
                raise DataError(f"{name}: a zip must hold one CSV or parquet file, not {listed}")
            [member] = members
            if member.file_size > MAX_UNZIPPED:
                raise DataError(f"{name}: {member.filename} unzips to {member.file_size / 2**30:.1f} GiB, more than "
                                f"the {MAX_UNZIPPED >> 30} GiB a candle file can be")
            with archive.open(member) as fh:
                content = fh.read(MAX_UNZIPPED + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise DataError(f"cannot read {name}: not a whole zip ({exc})") from None
    if len(content) > MAX_UNZIPPED:
        raise DataError(f"{name}: unzips to more than the {MAX_UNZIPPED >> 30} GiB a candle file can be")
    return Source(f"{name}:{member.filename}", content, parquet=member.filename.lower().endswith(".parquet"))
