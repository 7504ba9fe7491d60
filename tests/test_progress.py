"""Progress in batch logs: durations as h:m:s, and tqdm's redraws turned into lines (real tqdm)."""

import io

from tqdm import tqdm

from cpt.progress import RedrawsAsLines, hms


def test_hms_reads_as_hours_minutes_seconds():
    assert [hms(s) for s in (0, 59.6, 3725.4, 90061)] == ["0:00:00", "0:01:00", "1:02:05", "25:01:01"]


def test_tqdm_redraws_become_lines_and_log_lines_start_fresh():
    log = io.StringIO()
    stream = RedrawsAsLines(log)
    for i in tqdm(range(4), desc="requests", file=stream, mininterval=0, miniters=1, ncols=0):
        if i == 2:
            stream.write("INFO a log line\n")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0].startswith("requests:   0% 0/4") and "INFO a log line" in lines
    assert lines[-1].startswith("requests: 100% 4/4 [")
    assert all(line.startswith(("requests:", "INFO")) for line in lines)
