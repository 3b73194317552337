import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from curation.data.subset import (
    INDICES,
    MANIFEST,
    RECORDS,
    SubsetError,
    is_finished,
    read_subset,
    subset_image_root,
    write_subset,
)


def test_write_and_read_back(tmp_path, pool_file, write_pool_subset):
    synthetic = [
        {
            "id": "syn-0",
            "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}],
        }
    ]
    subset = write_pool_subset(
        tmp_path / "s",
        pool_file,
        [4, 1, 7],
        synthetic_records=synthetic,
        details={"note": 1},
        timings={"select": 0.5},
    )
    again = read_subset(tmp_path / "s")
    assert again.indices.dtype == np.int64 and again.indices.tolist() == [4, 1, 7]
    records = json.loads((tmp_path / "s" / RECORDS).read_text())
    assert [r["id"] for r in records] == ["r4", "r1", "r7", "syn-0"]
    manifest = again.manifest
    assert manifest["counts"] == {
        "pool": 10,
        "from_pool": 3,
        "synthetic": 1,
        "selected": 4,
        "fraction_of_pool": 0.4,
    }
    assert manifest["method"] == "random" and manifest["seed"] == 3
    assert len(manifest["pool"]["sha256"]) == 64 and manifest["details"] == {"note": 1}
    assert manifest["package"]["name"] == "vlmdata" and manifest["timings_s"] == {"select": 0.5}
    assert len(subset) == 4


def test_same_inputs_give_identical_bytes(tmp_path, pool_file, write_pool_subset):
    write_pool_subset(tmp_path / "a", pool_file, [3, 2])
    write_pool_subset(tmp_path / "b", pool_file, [3, 2])
    for name in (INDICES, RECORDS):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(
    "indices, message",
    [
        ([1, 1], "duplicates"),
        ([10], "outside the pool"),
        ([-1], "outside the pool"),
        ([[1, 2]], "1-D"),
    ],
)
def test_bad_indices(tmp_path, pool_file, indices, message):
    path, records = pool_file
    with pytest.raises(SubsetError, match=message):
        write_subset(
            tmp_path / "s",
            method="m",
            indices=indices,
            records=records[:1],
            pool_path=path,
            pool_size=10,
            config={},
            seed=0,
        )
    assert not (tmp_path / "s").exists()


def test_unfinished_directory_is_not_a_subset(tmp_path):
    (tmp_path / "s").mkdir()
    np.save(tmp_path / "s" / INDICES, np.arange(3))
    assert not is_finished(tmp_path / "s")
    with pytest.raises(SubsetError, match="missing subset.json"):
        read_subset(tmp_path / "s")


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import curation.data.subset as subset_mod
    from curation.data.records import write_records as real_write

    def slow_write(path, records):
        real_write(path, records)
        print("WRITING", flush=True)
        time.sleep(60)

    subset_mod.write_records = slow_write
    records = [{"id": str(i), "conversations": [{"from": "human", "value": "q"},
               {"from": "gpt", "value": "a"}]} for i in range(1000)]
    subset_mod.write_subset(sys.argv[1], method="random", indices=list(range(500)),
                            records=records[:500], pool_path=sys.argv[2], pool_size=1000,
                            config={}, seed=0)
""")


@pytest.mark.parametrize("existing", [False, True])
def test_killed_write_leaves_no_finished_looking_output(
    tmp_path, pool_file, write_pool_subset, existing
):
    out = tmp_path / "subset"
    if existing:
        write_pool_subset(out, pool_file, [0, 1])
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(out), str(pool_file[0])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "WRITING"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if existing:  # the earlier finished subset is untouched
        assert read_subset(out).indices.tolist() == [0, 1]
    else:
        assert not out.exists()


BROKEN_INDICES = {
    "object_dtype": lambda f: np.save(f, np.array([1, "x"], dtype=object), allow_pickle=True),
    "pickle": lambda f: f.write_bytes(b"\x80\x04\x95 not an array"),
    "empty": lambda f: f.write_bytes(b""),
    "float": lambda f: np.save(f, np.array([1.0, 2.0])),
}


@pytest.mark.parametrize("case", sorted(BROKEN_INDICES))
def test_unreadable_indices_are_one_line_naming_the_file(
    tmp_path, pool_file, write_pool_subset, case
):
    subset = write_pool_subset(tmp_path / "subset", pool_file, [1, 2]).path
    BROKEN_INDICES[case](subset / INDICES)
    with pytest.raises(SubsetError) as caught:
        read_subset(subset)
    message = str(caught.value)
    assert message.startswith(f"{subset / INDICES}: ") and "\n" not in message


BROKEN_MANIFESTS = {
    "not_json": b'{"method": "random", ',
    "not_utf8": b'{"method": "caf\xe9"}',
    "a_list": b"[1, 2]",
    "too_deep": b"[" * 100_000 + b"]" * 100_000,
    "no_pool": json.dumps({"method": "random", "counts": {"selected": 2}}).encode(),
    "pool_not_object": json.dumps(
        {"method": "random", "pool": "p.json", "counts": {"selected": 2}}
    ).encode(),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MANIFESTS))
def test_broken_manifest_is_one_line_naming_the_file(tmp_path, pool_file, write_pool_subset, case):
    subset = write_pool_subset(tmp_path / "subset", pool_file, [1, 2]).path
    (subset / MANIFEST).write_bytes(BROKEN_MANIFESTS[case])
    with pytest.raises(SubsetError) as caught:
        read_subset(subset)
    message = str(caught.value)
    assert message.startswith(f"{subset / MANIFEST}: ") and "\n" not in message


def test_manifest_names_the_pools_image_root(tmp_path, pool_file, write_pool_subset):
    images = tmp_path / "images"
    images.mkdir()
    subset = write_pool_subset(tmp_path / "s", pool_file, [0, 2], image_root=images)
    assert subset.manifest["pool"]["image_root"] == str(images.resolve())
    assert subset_image_root(read_subset(tmp_path / "s")) == images.resolve()
    no_root = write_pool_subset(tmp_path / "t", pool_file, [1])
    assert no_root.manifest["pool"]["image_root"] is None
    assert subset_image_root(read_subset(tmp_path / "t")) is None


def test_image_root_of_a_subset_written_without_the_field(tmp_path, pool_file, write_pool_subset):
    """Written by a caller that did not pass image_root (or before it existed): the data
    config `vlmdata curate` saves in the manifest names it."""
    write_pool_subset(tmp_path / "s", pool_file, [0])
    manifest_path = tmp_path / "s" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["pool"]["image_root"] = None
    manifest["config"]["data"] = {"kind": "llava", "image_root": "/data/images"}
    manifest_path.write_text(json.dumps(manifest))
    assert str(subset_image_root(read_subset(tmp_path / "s"))) == "/data/images"
    manifest["config"] = {"method": "random"}  # a plan's curate stage: the curation config only
    manifest_path.write_text(json.dumps(manifest))
    assert subset_image_root(read_subset(tmp_path / "s")) is None
