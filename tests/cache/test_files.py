"""Folders that cannot be written and files that are not text are one-line configuration errors.

Tests run as root, which ignores file permissions, so an unwritable folder is made the way root
also meets it: a path through a regular file (mkdir fails with ENOTDIR) or onto a folder (the
rename fails with EISDIR). Both raise the same OSError path as EACCES, EROFS or ENOSPC would.
"""
import pytest

from hbopt.cache.files import atomic_path, file_lock
from hbopt.errors import ConfigError


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
    assert run.code == 4 and run.err == (f"error: cannot create folder {mirror}: File exists "
                                         f"(the folder comes from $HBOPT_MIRROR_DIR={mirror})\n")


def test_a_write_that_cannot_be_renamed_into_place_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "x.parquet"
    target.mkdir()
    with pytest.raises(ConfigError, match=rf"^cannot write {target}: Is a directory$"):
        with atomic_path(target) as tmp:
            tmp.write_text("data")
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_a_lock_file_that_cannot_be_created_is_a_config_error(tmp_path):
    (tmp_path / "folder").write_text("")
    with pytest.raises(ConfigError, match="cannot create folder .*folder: File exists"):
        with file_lock(tmp_path / "folder" / ".lock"):
            pass
    (tmp_path / "lock").mkdir()
    with pytest.raises(ConfigError, match="cannot create lock file .*lock: Is a directory"):
        with file_lock(tmp_path / "lock"):
            pass


def test_a_binary_config_file_is_exit_4_with_one_line(hbopt, tmp_path):
    junk = tmp_path / "junk.yml"
    junk.write_bytes(bytes(range(128, 256)) * 8)
    run = hbopt("backtest", junk)
    assert run.code == 4 and run.err == "error: junk.yml is not a text file (it is not UTF-8)\n"
