"""A process killed with SIGKILL in the middle of writes leaves a database whose
integrity check is ok and which holds every write it acknowledged (SECURITY.md, "Data")."""

import os
import signal
import subprocess
import sys
import time

from pilots import migrations
from pilots.db import connect

WRITER = r"""
import sys
from pilots.db import connect, utc_now
from pilots.domain import audit

db = connect(sys.argv[1])
for i in range(1_000_000):
    with db.atomic():
        audit.record(db, actor_id=None, action="test.write", object_type="test", object_id=i)
    # Only after COMMIT returned does the writer acknowledge the write.
    print(i, flush=True)
"""


def test_kill_9_mid_write_keeps_every_acknowledged_write(tmp_path):
    path = str(tmp_path / "crash.sqlite3")
    migrations.apply(connect(path))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    deadline = time.monotonic() + 30
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if line:
            acknowledged.append(int(line))
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    assert len(acknowledged) >= 300
    db = connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {
        int(row["object_id"])
        for row in db.query("SELECT object_id FROM audit_event WHERE action = 'test.write'")
    }
    assert set(acknowledged) <= stored
    from pilots.domain import audit

    assert audit.verify_chain(db)[1] is None
