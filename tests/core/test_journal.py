"""The journal on a real SQLite file: duplicates collapse, modes decide what is redone, reports are complete."""

from pathlib import Path

from core.batch.journal import Journal, RunState, journal_path, unfinished_batch
from core.models import Entry, ItemUpdate, Output, Status

FP = "fingerprint-a"


def _entries(n: int) -> list[Entry]:
    return [Entry(f"http://h/{i}.jpg", f"http://h/{i}.jpg", "list.txt", i + 1) for i in range(n)]


def _done(key: str) -> ItemUpdate:
    return ItemUpdate(key, key, Status.DONE, outputs=[Output("a.jpg", 10, 5, 99)], bytes=1000, seconds=0.5)


def test_duplicates_collapse_to_the_first_occurrence(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run = j.new_run(FP, "normal")
        entries = [*_entries(3), Entry("http://h/1.jpg", "http://h/1.jpg", "list.txt", 9)]
        assert j.add_entries(entries, run) == 4
        items = list(j.items(run))
    assert [i.source for i in items] == ["http://h/0.jpg", "http://h/1.jpg", "http://h/2.jpg"]
    assert items[1].line == 2
    assert journal_path(tmp_path).is_file()


def test_invalid_lines_stay_separate_items_with_their_line(tmp_path: Path) -> None:
    bad = [Entry("ftp://x", None, "l.txt", 3, "unsupported scheme"), Entry("ftp://x", None, "l.txt", 7, "unsupported")]
    with Journal(tmp_path) as j:
        run = j.new_run(FP, "normal")
        j.add_entries(bad, run)
        items = list(j.items(run))
        assert j.counts(run).invalid == 2
    assert [(i.status, i.line) for i in items] == [(Status.INVALID, 3), (Status.INVALID, 7)]


def test_second_run_reports_earlier_work_as_skipped_and_keeps_failures(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run1 = j.new_run(FP, "normal")
        j.add_entries(_entries(3), run1)
        j.record(
            [_done("http://h/0.jpg"), ItemUpdate("http://h/1.jpg", "s", Status.FAILED, error="HTTP 404")], run1, FP
        )
        j.end_run(run1, RunState.FINISHED)

        run2 = j.new_run(FP, "normal")
        j.add_entries(_entries(3), run2)
        j.prepare_run(run2, FP, "normal")
        assert [p.key for p in j.pending(run2, 0, 10)] == ["http://h/2.jpg"]
        statuses = {i.key: i.status for i in j.items(run2)}
        assert statuses == {
            "http://h/0.jpg": Status.SKIPPED,
            "http://h/1.jpg": Status.FAILED,
            "http://h/2.jpg": Status.SKIPPED,
        }
        c = j.counts(run2)
        assert (c.total, c.done, c.failed, c.skipped, c.pending) == (3, 0, 1, 1, 1)


def test_modes_and_changed_settings_decide_what_is_redone(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run1 = j.new_run(FP, "normal")
        j.add_entries(_entries(2), run1)
        j.record([_done("http://h/0.jpg"), ItemUpdate("http://h/1.jpg", "s", Status.FAILED, error="x")], run1, FP)

        run2 = j.new_run(FP, "retry_failed")
        j.add_entries(_entries(2), run2)
        j.prepare_run(run2, FP, "retry_failed")
        assert [p.key for p in j.pending(run2, 0, 10)] == ["http://h/1.jpg"]

        run3 = j.new_run(FP, "force")
        j.add_entries(_entries(2), run3)
        j.prepare_run(run3, FP, "force")
        assert len(j.pending(run3, 0, 10)) == 2

    with Journal(tmp_path) as j:
        run4 = j.new_run("other-sizes", "normal")
        j.record([_done("http://h/0.jpg"), _done("http://h/1.jpg")], run3, FP)
        j.add_entries(_entries(2), run4)
        j.prepare_run(run4, "other-sizes", "normal")
        assert len(j.pending(run4, 0, 10)) == 2


def test_unfinished_batch_counts_what_an_interrupted_run_left(tmp_path: Path) -> None:
    assert unfinished_batch(tmp_path) == 0
    with Journal(tmp_path) as j:
        run = j.new_run(FP, "normal")
        j.add_entries(_entries(5), run)
        j.record([_done("http://h/0.jpg")], run, FP)
    assert unfinished_batch(tmp_path) == 4
    with Journal(tmp_path) as j:
        j.end_run(run, RunState.FINISHED)
    assert unfinished_batch(tmp_path) == 0


def test_interrupted_items_are_reported_as_skipped_with_a_reason(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run = j.new_run(FP, "normal")
        j.add_entries(_entries(1), run)
        (item,) = j.items(run)
        (left,) = j.items(run, reported=False)  # as a resumed batch's queue shows it
    assert item.status == Status.SKIPPED
    assert item.error == "not reached: the batch was interrupted before this item"  # its process was killed
    assert (left.status, left.error) == (Status.PENDING, None)


def test_items_a_run_did_not_reach_say_how_it_ended(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run = j.new_run(FP, "normal")
        j.add_entries(_entries(2), run)
        j.record([_done("http://h/0.jpg")], run, FP)
        errors = {}
        for state in (RunState.CANCELLED, RunState.STOPPED):
            j.end_run(run, state)
            errors[state] = [(i.status, i.error) for i in j.items(run)]
        assert j.counts(run).pending == 1
    assert errors[RunState.CANCELLED] == [
        (Status.DONE, None), (Status.SKIPPED, "not reached: the batch was cancelled before this item")
    ]  # fmt: skip
    assert errors[RunState.STOPPED][1] == (Status.SKIPPED, "not reached: the batch stopped before this item")


def test_many_entries_insert_quickly_in_batches(tmp_path: Path) -> None:
    with Journal(tmp_path) as j:
        run = j.new_run(FP, "normal")
        assert j.add_entries(_entries(20_000), run) == 20_000
        assert j.counts(run).pending == 20_000
        page = j.pending(run, 0, 500)
        assert len(page) == 500 and page[0].url == "http://h/0.jpg"
        assert j.pending(run, page[-1].id, 500)[0].url == "http://h/500.jpg"
