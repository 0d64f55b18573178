"""An OSError of the master becomes one line: the cause, the path and the fix."""

import errno
import os

import pytest

from mosmu_errors import os_error_message

PATH = "/var/www/nailgun/mos-repos/.staging"


@pytest.mark.parametrize("code, fix", [
    (errno.ENOSPC, f"free space on the filesystem of {PATH} (df -h)"),
    (errno.EDQUOT, f"free space on the filesystem of {PATH} (df -h)"),
    (errno.EROFS, f"remount the filesystem of {PATH} read-write"),
    (errno.EACCES, f"check permissions of {PATH} and its parents"),
    (errno.EPERM, f"check permissions of {PATH} and its parents"),
    (errno.ENOTDIR, f"{PATH} or a parent of it is a file where a directory is expected"),
    (errno.EEXIST, f"{PATH} or a parent of it is a file where a directory is expected"),
    (errno.EISDIR, f"{PATH} or a parent of it is a file where a directory is expected"),
    (errno.ENOENT, f"create the directory of {PATH}"),
    (errno.ELOOP, f"{PATH} is a symbolic link where mosmu refuses one"),
    (errno.EIO, f"the disk under {PATH} reports I/O errors"),
    (errno.EMFILE, "raise the salt-master's open file limit"),
    (errno.EXDEV, f"check {PATH} and the master's filesystem, then rerun"),
])
def test_each_errno_class_names_cause_path_and_fix(code, fix):
    text = os_error_message(OSError(code, os.strerror(code), PATH))
    name = errno.errorcode[code]
    assert text.startswith(f"{os.strerror(code)} ({name}): {PATH}; ")
    assert fix in text and "\n" not in text


@pytest.mark.parametrize("err, words", [
    (OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"), ": /a; check /a"),
    (OSError(errno.EACCES, "Permission denied", b"/bytes/path"), ": /bytes/path; check"),
    (OSError(errno.ENOSPC, "No space\nleft", "/a\nb"), "No space left (ENOSPC): /a b; free"),
    (OSError("plain text"), "OSError: plain text; check the master's filesystems"),
    (ConnectionResetError(), "ConnectionResetError; check the master's filesystems"),
    (TimeoutError(errno.ETIMEDOUT, "timed out"), "TimeoutError (ETIMEDOUT): timed out;"),
])
def test_odd_oserrors_still_end_as_one_line(err, words):
    text = os_error_message(err)
    assert words in text and "\n" not in text
