"""Files on a shared machine: folders only their owner can write, writes that never follow a
link or replace what is not a file, locks that say when they wait, and state read back whole or
named as damaged. Used by the store, the mirror, studies and the command line.

The threat is another local user (``/tmp``, the mirror's default home, is shared by everyone):
she may create a path first, plant a symbolic link, a FIFO or a device node where hbopt will
write, hold a lock, or edit a file hbopt later reads. So:

- :func:`owned_folder` accepts a folder only if it is a real folder (not a link) that this user
  owns and nobody else can write (a user's private group may), below folders nobody else could
  rename it in;
- :func:`atomic_path` (every file hbopt keeps) writes a temporary file and renames it over the
  target, refusing a target that is a symbolic link or not a regular file; :func:`write_output`
  (a file the user named) streams into a character device or FIFO instead of replacing it;
- :func:`open_owned` opens a file without following a link and checks it is this user's;
- :func:`file_lock` waits a bounded time (``--wait``, :func:`hbopt.settings.lock_wait`), saying so.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import json
import os
import pwd
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from hbopt import settings
from hbopt.errors import BusyError, ConfigError, DataError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
WAIT_NOTICE_S = 1.0  # a lock still held after this long is announced on stderr


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _setting(path: Path) -> tuple[str, Path] | None:
    """The setting (``HBOPT_MIRROR_DIR``, ``HBOPT_HOME``) and the folder it chose that ``path`` lies in."""
    path = Path(path)
    for variable, folder in (("HBOPT_MIRROR_DIR", settings.mirror_dir()), ("HBOPT_HOME", settings.home())):
        if path == folder or path.is_relative_to(folder):
            return variable, folder
    return None


def _setting_for(path: Path) -> str:
    """`` (the folder comes from $SETTING=value)`` when ``path`` lies under a folder a setting chose."""
    found = _setting(path)
    return f" (the folder comes from ${found[0]}={found[1]})" if found else ""


def _remedy(path: Path, joiner: str = "") -> str:
    """``; set $SETTING to a folder of your own`` when a setting chose the folder ``path`` lies in."""
    found = _setting(path)
    return f"; {joiner}set ${found[0]} to a folder of your own" if found else ""


def unusable(path: Path, action: str, exc: OSError) -> ConfigError:
    """A one-line :class:`ConfigError` for an ``OSError`` met doing ``action`` (``"write"``, ...)
    on ``path``, naming the setting that chose its folder."""
    return ConfigError(f"cannot {action} {path}: {exc.strerror or exc}{_setting_for(path)}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "symbolic link"), (stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "regular file"


def _writable_by_others(st: os.stat_result) -> bool:
    """Whether someone but the owner may write it: anyone, or a group that holds anyone else (a
    user's private group, named after them and holding nobody else, as Debian makes, does not)."""
    if st.st_mode & stat.S_IWOTH:
        return True
    if not st.st_mode & stat.S_IWGRP:
        return False
    try:
        group = grp.getgrgid(st.st_gid)
    except KeyError:
        return True
    return group.gr_name != user_name(st.st_uid) or not set(group.gr_mem) <= {group.gr_name}


def _not_ours(path: Path, st: os.stat_result, what: str) -> ConfigError | None:
    """Why ``path`` (``st`` its lstat) cannot be trusted as this user's own ``what``, if it cannot."""
    if st.st_uid != os.geteuid():
        return ConfigError(f"{what} {path} belongs to {user_name(st.st_uid)}, not you: another user could feed it "
                           f"hbopt's data{_remedy(path)}")
    if _writable_by_others(st):
        return ConfigError(f"{what} {path} can be written by others (mode {stat.S_IMODE(st.st_mode):o}): they could "
                           f"feed it hbopt's data; chmod go-w it{_remedy(path, 'or ')}")
    return None


def owned_folder(path: Path, what: str, mode: int | None = 0o700, create: bool = True,
                 links: bool = False) -> Path:
    """``path`` as a folder only this user can write; created (``mode``, masked by the umask) with
    its parents if missing and ``create``. A :class:`ConfigError` naming the setting that chose it if
    it is not a folder, belongs to another user, can be written by others, or lies in a folder
    another user could rename it out of (one owned by neither this user nor root, or writable by
    others without the sticky bit ``/tmp`` has); or if it is a symbolic link, unless ``links``:
    then the link, in a folder that passes, is followed to a folder that must pass too. Returns
    ``path``."""
    path = Path(path)
    _check_ancestors(path, what)
    if links and path.is_symlink():
        return owned_folder(Path(os.path.realpath(path)), what, mode, create)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return path
        try:
            os.makedirs(path.parent, mode=mode or 0o777, exist_ok=True)
            os.mkdir(path, mode or 0o777)
        except FileExistsError:  # made by someone else meanwhile: checked below
            pass
        except OSError as exc:
            raise unusable(path, "create folder", exc) from None
        st = os.lstat(path)
    except OSError as exc:  # a path through a file, say
        raise unusable(path, "create folder" if create else "read", exc) from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what} {path} is not a folder (it is a {_kind(st.st_mode)}){_setting_for(path)}")
    problem = _not_ours(path, st, what)
    if problem:
        raise problem
    return path


def home_folder(path: Path, what: str, create: bool = True) -> Path:
    """A folder under ``$HBOPT_HOME`` (the store, studies): :func:`owned_folder`, made 0755, and
    reached through a symbolic link of this user's where there is one (a store kept on a bigger disk)."""
    return owned_folder(path, what, mode=0o755, create=create, links=True)


def _check_ancestors(path: Path, what: str) -> None:
    """Each real folder above ``path`` must be owned by this user or root, and not writable by
    others unless sticky (there, others cannot rename what this user owns)."""
    folder = Path(os.path.realpath(path.parent))
    for ancestor in (folder, *folder.parents):
        try:
            st = os.stat(ancestor)
        except OSError:
            continue  # missing: created below by this user
        if st.st_uid not in (0, os.geteuid()):
            raise ConfigError(f"{what} {path} lies in {ancestor}, which belongs to {user_name(st.st_uid)}: they "
                              f"could replace it{_remedy(path)}")
        if _writable_by_others(st) and not st.st_mode & stat.S_ISVTX:
            raise ConfigError(f"{what} {path} lies in {ancestor}, which others can write (mode "
                              f"{stat.S_IMODE(st.st_mode):o}, not sticky): they could replace it{_remedy(path)}")


def _open_file(path: Path, flags: int, what: str, action: str, mode: int = 0o666,
               owned: bool = False) -> tuple[int, os.stat_result]:
    """``path`` opened with ``flags``, never through a symbolic link, never blocking on a FIFO, and
    checked to be a regular file (``owned``: this user's, that others cannot write); its
    descriptor and ``fstat``. ``FileNotFoundError`` passes; a link or anything but such a file is a
    :class:`ConfigError` naming ``what`` and the setting; another ``OSError`` one naming ``action``."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{what} {path} is a symbolic link: hbopt never follows one{_remedy(path)}") from None
        raise unusable(path, action, exc) from None
    st = os.fstat(fd)
    problem = (None if stat.S_ISREG(st.st_mode) else
               ConfigError(f"{what} {path} is a {_kind(st.st_mode)}, not a file{_remedy(path)}")) \
        or (_not_ours(path, st, what) if owned else None)
    if problem:
        os.close(fd)
        raise problem
    return fd, st


def open_owned(path: Path, what: str) -> int:
    """A read-only descriptor of ``path``, a regular file of this user's that others cannot write,
    opened without following a symbolic link; ``FileNotFoundError`` if there is none, a
    :class:`ConfigError` naming the setting if it is anything else."""
    return _open_file(path, os.O_RDONLY, what, "read", owned=True)[0]


def append_owned(path: Path, what: str) -> int:
    """A descriptor appending to ``path``, created (mode 0600) if missing, a regular file of this
    user's that others cannot write, never reached through a symbolic link; a :class:`ConfigError`
    if it is anything else."""
    return _open_file(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, what, "write", mode=0o600, owned=True)[0]


def read_owned(path: Path, what: str, limit: int = 1 << 20) -> bytes | None:
    """The bytes of :func:`open_owned`'s file (``None`` if there is none); more than ``limit``
    bytes is a :class:`DataError`."""
    try:
        fd = open_owned(path, what)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{what} {path} is larger than {limit} bytes")
    return data


# ------------------------------------------------------------------------------------ writing
def umask() -> int:
    """This process's umask, read without changing it where the system tells (Linux)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as fh:
            return int(next(line for line in fh if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _refuse_unreplaceable(path: Path) -> None:
    """A :class:`ConfigError` if ``path`` exists as anything but a regular file: renaming over it
    would replace a link, a device or a FIFO."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise unusable(path, "write", exc) from None
    if stat.S_ISLNK(st.st_mode):
        raise ConfigError(f"{path} is a symbolic link: hbopt never writes through one or replaces it; "
                          "give the path it points to")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"cannot write {path}: it is a {_kind(st.st_mode)}, not a file")


def _make_folder(folder: Path) -> None:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(folder, "create folder", exc) from None


@contextlib.contextmanager
def atomic_path(path: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced, given ``mode`` (default:
    what the umask leaves of 0666) and renamed over ``path``.

    On failure the temporary file is removed and ``path`` is left as it was, so a reader never
    sees a half-written file. A ``path`` that is a symbolic link or not a regular file is refused
    (a :class:`ConfigError`), never replaced; an ``OSError`` creating, writing or renaming
    (permissions, a read-only or full disk) is a one-line :class:`ConfigError` naming ``path``.
    """
    path = Path(path)
    _make_folder(path.parent)
    _refuse_unreplaceable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise unusable(path, "write", exc) from None
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise unusable(path, "write", exc) from None
        raise


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    with atomic_path(path, mode) as tmp:
        tmp.write_text(text, encoding="utf-8")


def is_stream(path: Path) -> bool:
    """Whether a file the user named (``--out``, ``--ledger``) is written as a stream (a character
    device or FIFO, such as ``/dev/null`` or a named pipe) rather than as a file; a
    :class:`ConfigError` if it can be neither (a symbolic link, folder, block device or socket).
    Commands ask before they run, so a refused output costs no work."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise unusable(Path(path), "write", exc) from None
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    _refuse_unreplaceable(Path(path))
    return False


def write_output(path: Path, text: str) -> None:
    """Write ``text`` to a file the user named (``--out``, ``--ledger``): a regular or new file
    atomically (:func:`atomic_path`); a character device or FIFO as a stream, as standard output
    would be, never replaced; anything else :func:`is_stream` refuses. A short or failed write is
    a :class:`ConfigError` naming ``path``."""
    path = Path(path)
    if not is_stream(path):
        return write_text_atomic(path, text)
    try:  # no O_CREAT: a stream is written into, never made
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise unusable(path, "write", exc) from None
    try:
        kind = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(kind) or stat.S_ISFIFO(kind)):  # replaced since the lstat
            raise ConfigError(f"cannot write {path}: it changed while being opened")
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
    except OSError as exc:
        raise unusable(path, "write", exc) from None
    finally:
        os.close(fd)


def ensure_file(path: Path, what: str) -> Path:
    """``path`` as an existing regular file, created (empty, umask permitting) if missing without
    following a symbolic link; a :class:`ConfigError` if it is a link or anything but a file."""
    path = Path(path)
    os.close(_open_file(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, what, "create")[0])
    return path


def is_no_space(exc: OSError) -> bool:
    """A full disk, quota or file size limit."""
    return exc.errno in _NO_SPACE


# ------------------------------------------------------------------------------------ reading
def read_json(path: Path, what: str, remedy: str = "") -> dict | None:
    """A JSON object hbopt wrote to ``path``, ``None`` if there is none; a :class:`DataError`
    naming it (and ``remedy``) if it cannot be read or is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DataError(f"{what} {path} is damaged ({str(exc).splitlines()[0]}){remedy}") from None
    if not isinstance(data, dict):
        raise DataError(f"{what} {path} is damaged (it holds no JSON object){remedy}")
    return data


# -------------------------------------------------------------------------------------- locks
@contextlib.contextmanager
def file_lock(path: Path, shared: bool = False, wait: bool = True, what: str = "",
              owned: bool = False) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``path`` (created if missing, never through a symbolic link)
    for the ``with`` block.

    ``shared`` locks may be held by many readers at once; an exclusive lock excludes all others.
    A held lock is waited for up to :func:`hbopt.settings.lock_wait` seconds, said once on stderr
    after :data:`WAIT_NOTICE_S`, then a :class:`BusyError` (exit 6) names who holds it; with
    ``wait=False`` the BusyError comes at once. ``owned``: the lock file must be this user's own
    and nobody else's to write (a :class:`ConfigError` otherwise), as in the mirror.
    """
    path = Path(path)
    what = what or str(path)
    _make_folder(path.parent)
    fd, st = _open_file(path, os.O_RDONLY | os.O_CREAT, "lock file", "create lock file", 0o600, owned)
    try:
        _acquire(fd, path, st, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, wait, what)
        yield
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, st: os.stat_result, kind: int, wait: bool, what: str) -> None:
    limit = settings.lock_wait() if wait else 0.0
    began, announced = time.monotonic(), False
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - began
        if waited >= limit:
            detail = f"still locked by {_holder(path, st)} after {limit:g} s (--wait SECONDS waits longer)" \
                if limit else f"locked by {_holder(path, st)}"
            raise BusyError(f"{what} is {detail}")
        if not announced and waited >= WAIT_NOTICE_S:
            sys.stderr.write(f"waiting for {what}: locked by {_holder(path, st)}; giving up after {limit:g} s "
                             "(--wait SECONDS)\n")
            sys.stderr.flush()
            announced = True
        time.sleep(0.05)


def _holder(path: Path, st: os.stat_result) -> str:
    """Who holds the lock on ``path``, as far as ``/proc/locks`` tells; and the lock file's owner
    when it is another user."""
    holders = []
    with contextlib.suppress(OSError):
        with open("/proc/locks") as fh:
            for line in fh:
                fields = line.split()
                if "->" in fields or len(fields) < 6 or not fields[5].endswith(f":{st.st_ino}"):
                    continue
                pid = fields[4]
                with contextlib.suppress(OSError):
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                    owner = user_name(os.stat(f"/proc/{pid}").st_uid)
                    holders.append(f"process {pid} ({name}) of {owner}")
    who = ", ".join(dict.fromkeys(holders)) or "another process"
    if st.st_uid != os.geteuid():
        who += f"; the lock file {path} belongs to {user_name(st.st_uid)}"
    return who
