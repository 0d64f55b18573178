"""The master's record of each node's last run (mosmu_ledger): read many at once."""

import os

import mosmu_ledger


class _Plan:  # pylint: disable=too-few-public-methods
    mos_version, repo_names = "8.0", ["updates"]


def _write(cachedir, node_id, result="FAIL"):
    mosmu_ledger.write(cachedir, {"id": node_id, "result": result, "comment": "c",
                                  "transport": "minion"}, "job-1", _Plan())


def test_read_many_gives_what_read_gives_for_each_node(tmp_path):
    cachedir = str(tmp_path)
    _write(cachedir, 1)
    _write(cachedir, 3, "OK")
    with open(os.path.join(mosmu_ledger.directory(cachedir), "node-4.json"), "w",
              encoding="utf-8") as handle:
        handle.write("{not json")
    ids = [1, 2, 3, 4]
    many = mosmu_ledger.read_many(cachedir, ids)
    assert many == {i: mosmu_ledger.read(cachedir, i) for i in ids}
    assert many[1]["result"] == "FAIL" and many[3]["result"] == "OK"
    assert many[2] is None and many[4] is None


def test_read_many_opens_only_the_records_that_exist(tmp_path, monkeypatch):
    cachedir = str(tmp_path)
    _write(cachedir, 7)
    opened = []
    real = mosmu_ledger.read
    monkeypatch.setattr(mosmu_ledger, "read", lambda c, i: opened.append(i) or real(c, i))
    many = mosmu_ledger.read_many(cachedir, range(1, 1001))
    assert opened == [7] and many[7]["run_id"] == "job-1"
    assert sum(v is not None for v in many.values()) == 1


def test_read_many_before_any_record_reads_nothing(tmp_path):
    assert mosmu_ledger.read_many(str(tmp_path), [1, 2]) == {1: None, 2: None}


def test_read_many_of_an_unlistable_directory_tries_each_node(tmp_path, monkeypatch):
    cachedir = str(tmp_path)
    _write(cachedir, 2)

    def refused(_path):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(mosmu_ledger.os, "listdir", refused)
    many = mosmu_ledger.read_many(cachedir, [1, 2])
    assert many[1] is None and many[2]["result"] == "FAIL"
