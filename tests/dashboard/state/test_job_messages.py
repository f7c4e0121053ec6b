"""What a page says about a job: its place in line, and how it ended."""

from __future__ import annotations

from dashboard.state.job_messages import end_message, queue_words
from dashboard.workers.pool import Outcome


def test_the_place_in_line_reads_as_words():
    assert queue_words(None) == ""
    assert queue_words((0, 0.2)) == "Waiting for a free trainer: next in line"
    assert queue_words((1, 12.4)) == "Waiting for a free trainer: 2nd in line, about 12 s"
    ordinals = [queue_words((n - 1, 5)).split(": ")[1].split(" ")[0] for n in (2, 3, 4, 11, 12, 13, 21, 22, 23, 101)]
    assert ordinals == ["2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st"]


def test_how_a_job_ended_says_what_is_kept():
    assert end_message(Outcome("stopped", mid_unit=True), 1, 3, None, False, 1) == (
        "warning", "Stopped: task 2 was dropped; task 1 is kept.")  # fmt: skip
    assert end_message(Outcome("stopped"), 2, 3, None, False, 0) == ("warning", "Stopped; tasks 1–2 are kept.")
    assert end_message(Outcome("gone", mid_unit=True), 0, 3, None, False, 0)[1] == (
        "Stopped because this tab was closed: task 1 was dropped; no task had finished yet.")  # fmt: skip
    assert end_message(Outcome("done"), 3, 3, None, True, 1)[1].startswith("Learned task 3 of 3. The sequence")
    assert end_message(Outcome("done"), 3, 3, None, True, 0)[0] == "info"  # nothing left to learn
    busy = end_message(Outcome("error", error={"type": "RunFolderError"}), 1, 3, "/r/run-7", False, 0)[1]
    assert busy.startswith("run-7 is being trained by another session")
    bug = end_message(Outcome("error", error={"type": "KeyError", "message": "'x'", "user": False}), 1, 3, None,
                      False, 0)[1]  # fmt: skip
    assert "Unexpected error" in bug and "server log" in bug and "Traceback" not in bug
