"""A fold-in of new items made once and mapped by every worker (:mod:`graphrec.serving.folds`):
the same arrays as a worker's own fold-in, made by one of several asking at once, replaced
whole, and never needed to answer. On a model of the bundled sample saved in this module's own
folder (its weights as initialised: a fold-in reads arrays, not how good they are); then a
gunicorn server's workers on the session's store, in a home of this module's own."""
from __future__ import annotations

import dataclasses
import errno
import http.client
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from graphrec.config import Settings
from graphrec.dataset import GraphData
from graphrec.explain.attribution import EdgeMasking, Mask
from graphrec.filelock import held
from graphrec.model import artifact
from graphrec.model.kernel import Propagated
from graphrec.model.kgrec import KGRec
from graphrec.private import private_folder
from graphrec.serving import folds as folds_module
from graphrec.serving.folds import SharedFolds, fold_name
from graphrec.serving.newitems import folded_links, grow, item_rows
from graphrec.serving.ranking import LINK_WEIGHTS
from graphrec.serving.service import RecommendationService
from graphrec.store.connection import GraphStore
from ingest.detect import read_catalogue
from ingest.frames import catalogue_frames
from tests.apps import train_sample, without_model
from tests.conftest import SAMPLE
from tests.gunicorn_server import gunicorn
from tests.mapped import mapped_from
from tests.test_web_serve import listening_sockets
from tests.waiting import wait_for
from web.serve import settings_env

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> artifact.Artifact:
    frames = catalogue_frames(read_catalogue(SAMPLE))
    data = GraphData.from_frames(frames.items, frames.purchases, frames.links, frames.users)
    model = KGRec.from_data(data, embedding_dim=16)
    return artifact.load(artifact.save(tmp_path_factory.mktemp("model") / "model", model, data))


def aged(folder: Path, seconds: float = 3600.0) -> None:
    """Everything under ``folder`` made as if written ``seconds`` ago."""
    when = time.time() - seconds
    for entry in folder.iterdir():
        os.utime(entry, (when, when), follow_symlinks=False)


def listings(trained: artifact.Artifact, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """New items as the store returns them: second listings of ``count`` trained items."""
    picks = np.random.default_rng(seed).choice(trained.data.num_items, count, replace=False)
    return item_rows(trained.data, picks.tolist(), [f"NEW-{seed}-{n}" for n in range(count)])


def test_a_shared_fold_in_is_the_one_a_worker_makes_alone(trained: artifact.Artifact,
                                                         tmp_path: Path) -> None:
    rows = listings(trained, 30)
    shared, masking = SharedFolds(tmp_path).grow(trained, rows)
    alone, none = SharedFolds(None).grow(trained, rows)
    assert none is None and masking is not None and masking.state is shared.state
    assert shared.state.folded == alone.state.folded == 30
    assert shared.state.meta() == alone.state.meta()
    for name in Propagated.ARRAYS:
        np.testing.assert_array_equal(getattr(shared.state, name), getattr(alone.state, name))
        assert mapped_from(getattr(shared.state, name), tmp_path)
    assert shared.ids == alone.ids
    assert shared.data.items.tolist() == alone.data.items.tolist()
    for name in ("item_brand", "item_category", "train", "category_parent"):
        np.testing.assert_array_equal(getattr(shared.data, name), getattr(alone.data, name))
    assert shared.data.links.keys() == alone.data.links.keys()
    for rel, pairs in alone.data.links.items():
        np.testing.assert_array_equal(shared.data.links[rel], pairs)
    assert shared.path_index is not None and alone.path_index is not None
    assert shared.path_index.keys() == alone.path_index.keys()
    for name, array in alone.path_index.items():
        np.testing.assert_array_equal(shared.path_index[name], array)
    own = EdgeMasking(alone.state).derived()
    for name, array in masking.derived().items():
        np.testing.assert_array_equal(array, own[name])
        assert mapped_from(array, tmp_path)
    # and it masks as the worker's own: a folded item's score without one of its edges
    item = trained.data.num_items
    edge = int(np.flatnonzero(np.asarray(alone.state.edge_row) == item)[0])
    col, relation = int(alone.state.edge_col[edge]), int(alone.state.edge_type[edge])
    history = np.array([0, 1, 2])
    mask = Mask(edges=frozenset({(min(item, col), max(item, col), relation)}))
    assert masking.scores(history, mask)[item] == EdgeMasking(alone.state).scores(
        history, mask)[item]
    assert masking.scores(history, mask)[item] != masking.scores(history)[item]


def test_workers_asking_at_once_fold_once_and_map_the_same_files(
        trained: artifact.Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, made = listings(trained, 10), []
    fold = folds_module._folded

    def slow_fold(*args: Any) -> artifact.Artifact:
        made.append(threading.get_ident())
        time.sleep(0.5)  # long enough for every worker to be waiting on the first
        return fold(*args)

    monkeypatch.setattr(folds_module, "_folded", slow_fold)
    results: list[Any] = [None] * 4

    def worker(n: int) -> None:
        results[n] = SharedFolds(tmp_path).grow(trained, rows)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(made) == 1
    name = fold_name(trained, rows)
    # and the signal that a fold-in was written, for the workers' watchers
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [name, f"{name}.lock", "made"]
    for folded, masking in results:
        assert folded.state.folded == 10 and masking.state is folded.state
        assert mapped_from(folded.state.layers, tmp_path / name)
        assert mapped_from(masking.spread[2], tmp_path / name)
    # private: the arrays hold the catalogue's graph
    assert (tmp_path / name).stat().st_mode & 0o077 == 0
    assert all(file.stat().st_mode & 0o077 == 0 for file in (tmp_path / name).iterdir())


def test_a_later_catalogue_replaces_the_fold_in_and_the_earlier_stays_mapped(
        trained: artifact.Artifact, tmp_path: Path) -> None:
    first_rows = listings(trained, 5, seed=1)
    first, _ = SharedFolds(tmp_path).grow(trained, first_rows)
    layers = np.array(first.state.layers)
    later_rows = listings(trained, 7, seed=2)
    # within a moment of it, the first stays: a worker that read the catalogue a moment after
    # may be about to map it
    SharedFolds(tmp_path).grow(trained, later_rows)
    names = [fold_name(trained, rows) for rows in (first_rows, later_rows)]
    assert sorted(entry.name for entry in tmp_path.iterdir() if entry.is_dir()) == sorted(names)
    aged(tmp_path)
    newest = listings(trained, 6, seed=3)
    later, _ = SharedFolds(tmp_path).grow(trained, newest)
    name = fold_name(trained, newest)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [name, f"{name}.lock", "made"]
    assert later.state.folded == 6
    # a worker still serving the first keeps its pages after the files are removed
    np.testing.assert_array_equal(first.state.layers, layers)


def test_a_fold_in_is_named_after_the_model_and_the_rows(trained: artifact.Artifact) -> None:
    rows = listings(trained, 3)
    assert fold_name(trained, rows) == fold_name(trained, [dict(row) for row in rows])
    # the store returns rows and their lists in no set order: the same catalogue, one name
    assert any(len(row["links_to"]) > 1 for row in rows)
    shuffled = [{**row, "links_to": row["links_to"][::-1], "links_from": row["links_from"][::-1],
                 "categories": row["categories"][::-1]} for row in rows[::-1]]
    assert fold_name(trained, shuffled) == fold_name(trained, rows)
    assert fold_name(trained, rows) != fold_name(trained, rows[:2])
    other = dataclasses.replace(trained, manifest={**trained.manifest, "fingerprint": "another"})
    assert fold_name(other, rows) != fold_name(trained, rows)


def test_a_lock_held_too_long_leaves_the_worker_to_fold_on_its_own(
        trained: artifact.Artifact, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = listings(trained, 4)
    private_folder(tmp_path)
    with held(tmp_path / f"{fold_name(trained, rows)}.lock") as mine:
        assert mine
        with caplog.at_level(logging.WARNING, logger="graphrec.serving.folds"):
            folded, masking = SharedFolds(tmp_path, wait=0.3).grow(trained, rows)
    assert folded.state.folded == 4 and masking is None
    assert not mapped_from(folded.state.layers, tmp_path)
    assert "folds them on its own" in caplog.text
    assert not (tmp_path / fold_name(trained, rows)).exists()


def test_a_folder_that_cannot_be_written_leaves_the_worker_to_fold_on_its_own(
        trained: artifact.Artifact, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_folder = tmp_path / "folds"
    not_a_folder.write_text("")
    with caplog.at_level(logging.WARNING, logger="graphrec.serving.folds"):
        folded, masking = SharedFolds(not_a_folder).grow(trained, listings(trained, 4))
    assert folded.state.folded == 4 and masking is None
    assert "folds the new items on its own" in caplog.text


def test_a_fold_in_that_fails_fails_once_and_is_not_blamed_on_the_folder(
        trained: artifact.Artifact, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing(*args: Any) -> None:
        calls.append(args)
        raise ValueError("a row the fold cannot take")

    monkeypatch.setattr(folds_module, "grow", failing)
    with caplog.at_level(logging.WARNING, logger="graphrec.serving.folds"), \
            pytest.raises(ValueError, match="a row the fold cannot take"):
        SharedFolds(tmp_path).grow(trained, listings(trained, 4))
    assert len(calls) == 1
    assert "not usable" not in caplog.text
    assert [entry.name for entry in tmp_path.iterdir()] == [
        f"{fold_name(trained, listings(trained, 4))}.lock"]


def test_a_disk_without_room_leaves_the_worker_to_fold_on_its_own(
        trained: artifact.Artifact, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the disk cannot hold fails when its blocks are reserved, before a page of it is
    written (a mapped page with no room is a SIGBUS): the worker folds in memory, the same
    arrays, and leaves nothing half written."""
    def full(descriptor: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(folds_module.os, "posix_fallocate", full)
    rows = listings(trained, 4)
    with caplog.at_level(logging.WARNING, logger="graphrec.serving.folds"):
        folded, masking = SharedFolds(tmp_path).grow(trained, rows)
    assert folded.state.folded == 4 and masking is None
    assert not mapped_from(folded.state.layers, tmp_path)
    assert "No space left on device" in caplog.text and "on its own" in caplog.text
    assert [entry.name for entry in tmp_path.iterdir()] == [f"{fold_name(trained, rows)}.lock"]
    alone, _ = SharedFolds(None).grow(trained, rows)
    for name in Propagated.ARRAYS:
        np.testing.assert_array_equal(getattr(folded.state, name), getattr(alone.state, name))


def test_a_system_that_cannot_reserve_blocks_shares_the_fold_in_made_in_memory(
        trained: artifact.Artifact, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``os.posix_fallocate`` (macOS) the writer makes the arrays in its memory and
    saves them, as before: the same files, mapped."""
    monkeypatch.delattr(folds_module.os, "posix_fallocate")
    rows = listings(trained, 4)
    shared, masking = SharedFolds(tmp_path).grow(trained, rows)
    assert masking is not None and mapped_from(shared.state.layers, tmp_path)
    alone, _ = SharedFolds(None).grow(trained, rows)
    for name in Propagated.ARRAYS:
        np.testing.assert_array_equal(getattr(shared.state, name), getattr(alone.state, name))


def test_rows_with_nothing_to_fold_write_nothing_and_remove_the_last_fold_in(
        trained: artifact.Artifact, tmp_path: Path) -> None:
    earlier, _ = SharedFolds(tmp_path).grow(trained, listings(trained, 3))
    aged(tmp_path)
    bare = [{"item_id": "BARE", "brand": None, "categories": [], "links_to": [],
             "links_from": []}]
    folded, masking = SharedFolds(tmp_path).grow(trained, bare)
    assert folded is trained and masking is None
    # the new items gone from the catalogue: their fold-in goes too, the one served keeps
    # its pages
    assert [entry.name for entry in tmp_path.iterdir()] == [f"{fold_name(trained, bare)}.lock"]
    assert earlier.state.folded == 3 and np.asarray(earlier.state.layers).sum() != 0


# --- a server's workers ---------------------------------------------------------------------

WORKERS = 3
NEW_ITEM = "SHARED-FOLD-NEW-1"


def health(port: int) -> dict[str, Any]:
    """``/api/health``'s model block, on a fresh connection (the kernel picks the worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/health")
        return json.loads(conn.getresponse().read())["checks"]["model"]
    finally:
        conn.close()


def mapped_by(process: psutil.Process, folder: Path) -> set[str]:
    """The files under ``folder`` that ``process`` maps."""
    return {Path(region.path).name for region in process.memory_maps()
            if Path(region.path).is_relative_to(folder)}


def test_a_servers_workers_fold_a_new_item_in_once_and_map_the_same_files(
        settings: Settings, session_store: GraphStore, tmp_path: Path) -> None:
    home = without_model(settings, tmp_path / "home")
    train_sample(home, session_store)
    env = settings_env(dataclasses.replace(home, catalogue_check_interval=0.5))
    env.update(GRAPHREC_WEB_WORKERS=str(WORKERS), GRAPHREC_WEB_ACCESSLOG="off")
    brand = str(artifact.load(home.model_path).data.brands[0])  # one the model knows
    log = tmp_path / "gunicorn.log"
    try:
        with gunicorn(env, log, lambda port, _: listening_sockets(port) >= WORKERS
                      and health(port)["ok"], timeout=90) as (port, master):
            session_store.write("ingest/items", rows=[{"id": NEW_ITEM, "title": "New",
                                                       "price": 1.0, "sales_rank": None}])
            session_store.write("ingest/item_brands", rows=[{"item": NEW_ITEM, "brand": brand}])
            workers = master.children()
            assert len(workers) == WORKERS
            folds = home.folds_dir

            def every_worker_serves_it() -> bool:  # asked on fresh connections, in a row
                return all(health(port)["folded_items"] == 1 for _ in range(5 * WORKERS))

            wait_for(every_worker_serves_it, "every worker serving the new item", timeout=60)
            names = [entry.name for entry in folds.iterdir() if entry.is_dir()]
            assert len(names) == 1
            for worker in workers:  # each maps the one fold-in's files
                assert "state_layers.npy" in mapped_by(worker, folds / names[0]), worker.pid
    finally:
        session_store.write("catalogue/remove_items", ids=[NEW_ITEM])
    # one of them made it; the others waited for it and mapped its files
    made = re.findall(r"1 new items folded in and shared under", log.read_text())
    assert len(made) == 1, log.read_text()


def test_a_service_with_nothing_to_fold_in_removes_what_an_earlier_model_left(
        settings: Settings, session_store: GraphStore, tmp_path: Path) -> None:
    """A model retrained on the whole catalogue has no new item: the last model's fold-in,
    gigabytes at scale, does not stay in the home until the next new item."""
    home = without_model(settings, tmp_path / "home")
    train_sample(home, session_store)
    left = home.folds_dir / "an-earlier-models-fold-in"
    left.mkdir(parents=True)
    (left / "state_layers.npy").write_bytes(b"")
    (home.folds_dir / "an-earlier-models-fold-in.lock").write_bytes(b"")
    aged(home.folds_dir)
    service = RecommendationService.load(home, session_store, catalogue_check_interval=None,
                                         reason_cache_size=10)
    assert service.folded == 0
    assert list(home.folds_dir.iterdir()) == []


def test_the_folded_items_link_keys_read_from_the_index_are_those_of_the_links(
        trained: artifact.Artifact) -> None:
    """:func:`folded_links` reads the grown path index's tail; here the matrix by its
    definition, from the links themselves: each relation once a pair, either way."""
    folded = grow(trained, listings(trained, 40))
    first, n = trained.data.num_items, folded.data.num_items
    expected = np.zeros((n, n - first))
    for relation, pairs in folded.data.links.items():
        linked = {(int(a), int(b)) for a, b in np.asarray(pairs).tolist()}
        linked |= {(b, a) for a, b in linked}
        for a, b in linked:
            if b >= first:
                expected[a, b - first] += LINK_WEIGHTS[relation]
    assert expected.sum() > 0
    got = folded_links(folded.data, first, folded.path_index)
    np.testing.assert_array_equal(got.toarray(), expected)
    np.testing.assert_array_equal(folded_links(folded.data, first).toarray(), expected)


def test_a_fold_in_written_is_said_to_the_other_processes_and_mapped_never_made_on_it(
        trained: artifact.Artifact, tmp_path: Path) -> None:
    """``made``: a worker's watcher looks when another wrote a fold-in, and maps it only when it
    is of the catalogue the watcher reads (``mapped``: nothing is made on the signal, so one
    worker's fold-in never sets off another's)."""
    rows, other_rows = listings(trained, 5, seed=4), listings(trained, 6, seed=5)
    maker, follower = SharedFolds(tmp_path), SharedFolds(tmp_path)
    before = time.time() - 1
    assert follower.mapped(trained, rows) is None and not follower.made_since(before)
    made, _ = maker.grow(trained, rows)
    assert follower.made_since(before) and not maker.made_since(before)  # its own is not news
    mapped = follower.mapped(trained, rows)
    assert mapped is not None
    folded, masking = mapped
    np.testing.assert_array_equal(folded.state.layers, made.state.layers)
    assert mapped_from(folded.state.layers, tmp_path / fold_name(trained, rows))
    assert masking.state is folded.state
    assert follower.mapped(trained, other_rows) is None
    assert sorted(entry.name for entry in tmp_path.iterdir() if entry.is_dir()) == [
        fold_name(trained, rows)]
