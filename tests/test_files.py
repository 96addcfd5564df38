"""Files on a shared machine: folders only their owner can write, writes that never follow a link
or replace what is not a file, and locks that say when they wait.

Tests run as root, which ignores file permissions; another user is played by uid 65534
(``nobody``), to whom files are handed with ``chown``. An unwritable folder is made the way root
also meets one: a path through a regular file (mkdir fails with ENOTDIR), which takes the same
OSError path as EACCES, EROFS or ENOSPC.
"""
import grp
import os
import pwd
import stat
import subprocess
import sys
import time

import pytest

from hbopt.errors import BusyError, ConfigError, DataError
from hbopt.files import atomic_path, file_lock, home_folder, owned_folder, read_json, write_output, write_text_atomic

OTHER = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ------------------------------------------------------------------------------------ folders
def test_a_missing_folder_is_made_for_its_owner_alone(tmp_path):
    folder = owned_folder(tmp_path / "a" / "mirror", "mirror folder")
    assert folder.is_dir() and mode(folder) == 0o700 and os.lstat(folder).st_uid == os.geteuid()


@as_root
def test_a_folder_of_another_user_is_refused(tmp_path):
    os.mkdir(tmp_path / "theirs")
    os.chown(tmp_path / "theirs", OTHER, OTHER)
    with pytest.raises(ConfigError, match=r"mirror folder .*theirs belongs to nobody, not you"):
        owned_folder(tmp_path / "theirs", "mirror folder")


@pytest.mark.parametrize("bits, group", [(0o770, OTHER), (0o707, None)], ids=["group-writable", "world-writable"])
def test_a_folder_others_can_write_is_refused(tmp_path, bits, group):
    os.mkdir(tmp_path / "open")
    os.chmod(tmp_path / "open", bits)
    if group is not None:
        if os.geteuid() != 0:
            pytest.skip("handing a folder to another group needs root")
        os.chown(tmp_path / "open", -1, group)  # a group that is not the owner's own
    with pytest.raises(ConfigError, match=rf"can be written by others \(mode {bits:o}\).*chmod go-w"):
        owned_folder(tmp_path / "open", "mirror folder")


def test_a_folder_only_the_owners_private_group_can_write_is_fine(tmp_path):
    """A umask of 002 with a group per user, as Debian makes them, gives folders mode 775."""
    os.mkdir(tmp_path / "mine")
    os.chmod(tmp_path / "mine", 0o775)
    os.chown(tmp_path / "mine", -1, pwd.getpwuid(os.geteuid()).pw_gid)
    group, user = grp.getgrgid(os.stat(tmp_path / "mine").st_gid), pwd.getpwuid(os.geteuid()).pw_name
    if group.gr_name != user or set(group.gr_mem) - {user}:
        pytest.skip("this user has no private group")
    assert owned_folder(tmp_path / "mine" / "mirror", "mirror folder").is_dir()


def test_a_folder_that_is_a_symbolic_link_is_refused_and_its_target_left_alone(tmp_path):
    (tmp_path / "private").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "private" / "new")
    with pytest.raises(ConfigError, match="is not a folder \\(it is a symbolic link\\)"):
        owned_folder(tmp_path / "link", "mirror folder")
    assert list((tmp_path / "private").iterdir()) == []


def test_a_home_folder_may_be_a_link_of_yours_to_a_folder_of_yours(tmp_path):
    (tmp_path / "big-disk").mkdir()
    (tmp_path / "candles").symlink_to(tmp_path / "big-disk" / "candles")
    assert home_folder(tmp_path / "candles", "candle store") == tmp_path / "big-disk" / "candles"
    assert (tmp_path / "big-disk" / "candles").is_dir()
    if os.geteuid() == 0:
        os.chown(tmp_path / "big-disk" / "candles", OTHER, OTHER)
        with pytest.raises(ConfigError, match="candle store .*big-disk/candles belongs to nobody"):
            home_folder(tmp_path / "candles", "candle store")


@as_root
def test_a_folder_inside_another_users_folder_is_refused_but_a_sticky_one_like_tmp_is_fine(tmp_path):
    (tmp_path / "theirs").mkdir()
    os.chown(tmp_path / "theirs", OTHER, OTHER)
    with pytest.raises(ConfigError, match=r"lies in .*theirs, which belongs to nobody: they could replace it"):
        owned_folder(tmp_path / "theirs" / "mirror", "mirror folder")
    (tmp_path / "shared").mkdir()
    os.chmod(tmp_path / "shared", 0o1777)
    assert owned_folder(tmp_path / "shared" / "mirror", "mirror folder").is_dir()
    os.chmod(tmp_path / "shared", 0o777)
    with pytest.raises(ConfigError, match=r"which others can write \(mode 777, not sticky\)"):
        owned_folder(tmp_path / "shared" / "other", "mirror folder")


def test_a_home_that_is_a_file_makes_synth_exit_4_with_one_line(hbopt, hbopt_env):
    home = hbopt_env / "home"
    home.write_text("not a folder")
    run = hbopt("data", "synth", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--days", "1")
    assert run.code == 4 and run.err == (f"error: cannot create folder {home}/candles: Not a directory "
                                         f"(the folder comes from $HBOPT_HOME={home})\n")


def test_a_mirror_folder_that_is_a_file_makes_refresh_exit_4_naming_the_setting(hbopt, hbopt_env):
    (hbopt_env / "mirror").write_text("not a folder")
    hbopt("data", "synth", "--connector", "binance_perpetual", "--pair", "BTC-USDT", "--days", "1")
    run = hbopt("mirror", "refresh")
    mirror = hbopt_env / "mirror"
    assert run.code == 4 and run.err == (f"error: mirror folder {mirror} is not a folder (it is a regular file) "
                                         f"(the folder comes from $HBOPT_MIRROR_DIR={mirror})\n")


# ------------------------------------------------------------------------------------- writes
def test_a_written_file_keeps_the_umask_and_an_explicit_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "report.html", "x")
        write_text_atomic(tmp_path / "array.json", "x", mode=0o600)
    finally:
        os.umask(old)
    assert mode(tmp_path / "report.html") == 0o640 and mode(tmp_path / "array.json") == 0o600


def test_a_symbolic_link_is_never_written_through_or_replaced(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "victim")
    with pytest.raises(ConfigError, match=r"link is a symbolic link: hbopt never writes through one or replaces it"):
        write_text_atomic(tmp_path / "link", "x")
    assert (tmp_path / "link").is_symlink() and not (tmp_path / "victim").exists()


@pytest.mark.parametrize("make", [lambda p: os.mkfifo(p), lambda p: p.mkdir()], ids=["fifo", "folder"])
def test_a_kept_file_never_replaces_what_is_not_a_file_and_leaves_no_temporary_file(tmp_path, make):
    make(tmp_path / "x.parquet")
    before = os.lstat(tmp_path / "x.parquet")
    with pytest.raises(ConfigError, match=r"^cannot write .*x\.parquet: it is a (FIFO|folder), not a file$"):
        with atomic_path(tmp_path / "x.parquet") as tmp:
            tmp.write_text("data")
    assert os.lstat(tmp_path / "x.parquet").st_ino == before.st_ino
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_an_output_into_a_device_or_fifo_is_streamed_never_replaced(tmp_path):
    write_output("/dev/null", "x" * 100_000)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_output(fifo, "through the pipe")
    assert reader.communicate(timeout=10)[0] == b"through the pipe" and stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(ConfigError, match=r"^cannot write /dev/full: No space left on device$"):
        write_output("/dev/full", "x")


def test_an_output_that_is_a_symbolic_link_is_refused(tmp_path):
    (tmp_path / "out").symlink_to("/dev/null")
    with pytest.raises(ConfigError, match="is a symbolic link"):
        write_output(tmp_path / "out", "x")


# -------------------------------------------------------------------------------------- locks
def test_a_lock_file_that_is_a_link_or_not_a_file_is_refused_and_nothing_is_created(tmp_path):
    (tmp_path / "root-only").mkdir(mode=0o700)
    (tmp_path / "link.lock").symlink_to(tmp_path / "root-only" / "planted")
    with pytest.raises(ConfigError, match="lock file .*link.lock is a symbolic link: hbopt never follows one"):
        with file_lock(tmp_path / "link.lock"):
            pass
    assert list((tmp_path / "root-only").iterdir()) == []
    os.mkfifo(tmp_path / "fifo.lock")
    with pytest.raises(ConfigError, match="lock file .*fifo.lock is a FIFO, not a file"):
        with file_lock(tmp_path / "fifo.lock"):
            pass


@as_root
def test_a_lock_file_of_another_user_is_named_as_such(tmp_path):
    (tmp_path / ".lock").touch()
    os.chown(tmp_path / ".lock", OTHER, OTHER)
    with pytest.raises(ConfigError, match=r"lock file .*\.lock belongs to nobody, not you"):
        with file_lock(tmp_path / ".lock", owned=True):
            pass


HOLD = "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_SH); print('held', flush=True); time.sleep(30)"


def test_a_held_lock_is_announced_once_after_a_second_then_given_up_naming_its_holder(tmp_path, monkeypatch, capsys):
    lock = tmp_path / ".lock"
    lock.touch()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setenv("HBOPT_WAIT", "1.6")
        began = time.monotonic()
        with pytest.raises(BusyError, match=rf"^mirror M is still locked by process {holder.pid} \(python\S*\) of "
                                            r"\S+ after 1.6 s \(--wait SECONDS waits longer\)$"):
            with file_lock(lock, what="mirror M"):
                pass
        assert 1.6 <= time.monotonic() - began < 5
        said = capsys.readouterr().err
        assert said.count("waiting for mirror M: locked by process") == 1 and "giving up after 1.6 s" in said
        with file_lock(lock, shared=True, what="mirror M"):  # readers share it at once
            pass
    finally:
        holder.kill()
    assert capsys.readouterr().err == ""


def test_a_lock_waited_for_is_taken_once_it_is_free(tmp_path):
    lock = tmp_path / ".lock"
    lock.touch()
    holder = subprocess.Popen([sys.executable, "-c", HOLD.replace("30", "1.5"), str(lock)], stdout=subprocess.PIPE)
    holder.stdout.readline()
    began = time.monotonic()
    with file_lock(lock, what="mirror M"):
        assert time.monotonic() - began > 0.5
    holder.wait()


# ----------------------------------------------------------------------------------- reading
def test_state_that_is_not_whole_json_is_named_as_damaged(tmp_path):
    (tmp_path / "validation.json").write_text('{"verdict": "pa')
    with pytest.raises(DataError, match=r"^its validation .*validation.json is damaged \(.*\); run it again$"):
        read_json(tmp_path / "validation.json", "its validation", "; run it again")
    (tmp_path / "validation.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"is damaged \(it holds no JSON object\)"):
        read_json(tmp_path / "validation.json", "its validation")
    assert read_json(tmp_path / "never-written.json", "its validation") is None


def test_a_binary_config_file_is_exit_4_with_one_line(hbopt, tmp_path):
    junk = tmp_path / "junk.yml"
    junk.write_bytes(bytes(range(128, 256)) * 8)
    run = hbopt("backtest", junk)
    assert run.code == 4 and run.err == "error: junk.yml is not a text file (it is not UTF-8)\n"
