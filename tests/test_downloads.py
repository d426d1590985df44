"""Tests of nnscratch.downloads, through the data loaders: files fetched from the mirrors in
turn, verified before they enter the cache, nothing left behind by a failure.

A local HTTP server on 127.0.0.1 stands in for the mirrors, serving small synthetic IDX files
whose digests replace the pinned ones; never the internet.
"""

import hashlib

import pytest
from fake_mnist import FILES, FakeDataSet, closed_port_url, fake_arrays, files_under

from nnscratch import data, downloads
from nnscratch.data import DataNotFoundError
from nnscratch.downloads import ChecksumError
from nnscratch.idx import IDXFormatError, write_idx

# --------------------------------------------------------------------------- downloading


def test_download_good_files_then_use_the_cache(folders, fake, server):
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)
    assert sorted(server.requests) == sorted(f"/good/{name}.gz" for name in FILES)
    fake.check(data.load_mnist(download=False))
    fake.check(data.load_mnist(mirrors=[closed_port_url()]))
    assert len(server.requests) == 4


def test_one_mirror_as_a_string(folders, fake, server):
    paths = data.locate_files("mnist", mirrors=server.mirror("good", fake.gz))
    assert paths == {name: folders["cache"] / f"{name}.gz" for name in FILES}


def test_404_then_a_good_mirror(folders, fake, server):
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[f"{server.url}/missing", good]))
    for name in FILES:
        assert server.requests.index(f"/missing/{name}.gz") < server.requests.index(
            f"/good/{name}.gz"
        )
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)


def test_truncated_body_leaves_nothing_behind(folders, fake, server):
    truncated = {name: body[: len(body) // 2] for name, body in fake.gz.items()}
    mirror = server.mirror("truncated", truncated, declared=len(max(truncated.values())) + 1)
    with pytest.raises(DataNotFoundError, match="Downloading failed") as caught:
        data.load_mnist(mirrors=[mirror])
    assert f"{mirror}{FILES[0]}.gz" in str(caught.value)
    assert not folders["cache home"].exists()  # no partial file, no folder we created


def test_truncated_body_then_a_good_mirror(folders, fake, server):
    truncated = {name: body[:-5] for name, body in fake.gz.items()}
    bad = server.mirror("truncated", truncated, declared=5)
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[bad, good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)


def test_body_shorter_than_no_declared_length_is_caught_by_verification(folders, fake, server):
    bad = server.mirror("cut", {name: body[:-5] for name, body in fake.gz.items()})
    with pytest.raises(IDXFormatError, match="truncated gzip stream"):
        data.load_mnist(mirrors=[bad])
    assert not folders["cache home"].exists()


def test_wrong_bytes_are_refused_and_deleted(folders, fake, server):
    other = FakeDataSet(fake_arrays(seed=1))
    mirror = server.mirror("wrong", other.gz)
    with pytest.raises(ChecksumError) as caught:
        data.load_mnist(mirrors=[mirror])
    message = str(caught.value)
    assert f"{mirror}{FILES[0]}.gz" in message
    assert other.sha256[FILES[0]] in message  # found
    assert fake.sha256[FILES[0]] in message  # expected
    assert not folders["cache home"].exists()


def test_garbage_bytes_are_refused(folders, fake, server):
    page = b"<html>Access denied</html>"
    mirror = server.mirror("garbage", dict.fromkeys(FILES, page))
    with pytest.raises(ChecksumError, match=hashlib.sha256(page).hexdigest()):
        data.load_mnist(mirrors=[mirror])
    assert not folders["cache home"].exists()


def test_wrong_bytes_then_a_good_mirror(folders, fake, server):
    wrong = server.mirror("wrong", FakeDataSet(fake_arrays(seed=1)).gz)
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(mirrors=[wrong, good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES)


def test_wrong_bytes_then_a_dead_mirror_reports_the_wrong_bytes(folders, fake, server):
    wrong = server.mirror("wrong", FakeDataSet(fake_arrays(seed=1)).gz)
    with pytest.raises(ChecksumError) as caught:
        data.load_mnist(mirrors=[wrong, f"{server.url}/missing/"])
    assert "404" in "\n".join(caught.value.__notes__)
    assert not folders["cache home"].exists()


def test_only_missing_files_are_downloaded(folders, fake, server):
    fake.write(folders["data_dir"], FILES[:2])
    good = server.mirror("good", fake.gz)
    fake.check(data.load_mnist(folders["data_dir"], mirrors=[good]))
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES[2:])


def test_no_network_fails_fast_and_leaves_nothing(folders, fake):
    dead = closed_port_url()
    with pytest.raises(DataNotFoundError) as caught:
        data.load_mnist(mirrors=[dead, dead])
    message = str(caught.value)
    assert "4 file(s) not found" in message
    assert message.count(dead) >= 2
    assert not folders["cache home"].exists()


def test_no_mirrors(folders, fake):
    with pytest.raises(DataNotFoundError, match=r"no mirror to download from"):
        data.load_mnist(mirrors=[])


# --------------------------------------------------------------------------- the pieces


def test_read_verified_returns_the_content_or_names_both_digests(tmp_path, fake):
    path = tmp_path / f"{FILES[1]}.gz"
    path.write_bytes(fake.gz[FILES[1]])
    expected = fake.sha256[FILES[1]]
    content = downloads.read_verified(path, expected, source="the labels")
    assert hashlib.sha256(content).hexdigest() == expected
    write_idx(path, (fake.arrays[FILES[1]] + 1) % 10)
    with pytest.raises(ChecksumError, match=f"^the labels: SHA-256 .* expected {expected}"):
        downloads.read_verified(path, expected, source="the labels")
    assert issubclass(ChecksumError, ValueError)


def test_cache_folder_is_per_user_and_per_data_set(folders):
    assert downloads.cache_folder("mnist") == folders["cache"]
    assert downloads.cache_folder("fashion-mnist") == folders["cache"].parent / "fashion-mnist"


def test_download_missing_fetches_only_what_is_missing(folders, fake, server, tmp_path):
    present = tmp_path / "elsewhere" / FILES[0]
    paths = {name: None for name in FILES} | {FILES[0]: present}
    failures = downloads.download_missing(
        paths, folders["cache"], [server.mirror("good", fake.gz)], fake.sha256
    )
    assert failures == []
    assert paths == {FILES[0]: present} | {
        name: folders["cache"] / f"{name}.gz" for name in FILES[1:]
    }
    assert sorted(server.requests) == sorted(f"/good/{name}.gz" for name in FILES[1:])
    assert files_under(folders["cache"]) == sorted(f"{name}.gz" for name in FILES[1:])
