"""Several workers at once share the queue without writing anything twice."""

from __future__ import annotations

import threading

from writeback.worker import process_due

from .conftest import add, items


def test_two_workers_at_once_write_every_item_exactly_once(wb_app, devorg):
    for n in range(300):
        add(wb_app, key=f"t:{n}", object_name="Task", operation="create",
            fields={"Subject": f"訪問 {n}", "Status": "Completed"})
        if n % 2 == 0:
            add(wb_app, key=f"c:{n}", object_name="Contact", operation="create", fields={"LastName": f"山本{n}"})
    errors: list[BaseException] = []
    claimed = {"w1": 0, "w2": 0}

    def work(worker_id: str) -> None:
        try:
            with wb_app.app_context():
                while True:
                    done = process_due(wb_app, worker_id, limit=50)
                    claimed[worker_id] += done
                    if done == 0:
                        return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not errors, errors
    assert claimed["w1"] + claimed["w2"] == 450
    subjects = [t["Subject"] for t in devorg.records("Task")]
    assert len(subjects) == 300 and len(set(subjects)) == 300
    assert len(devorg.records("Contact")) == 150
    assert {i.status for i in items(wb_app)} == {"written"}
