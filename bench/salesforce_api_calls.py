"""API requests per batch of the Salesforce source, REST and Bulk API 2.0, on the stand-in.

Prints, for 10,000 and 100,000 records, the requests one batch spends: the scheduler's
bounds (describe, newest cursor) and the extract (describe, COUNT(), pages or job, deletes).
Run: .venv/bin/python bench/salesforce_api_calls.py
"""

import io
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.sources.base import WaitFor
from handlers.sources.salesforce import SalesforceReader
from tests.integration.salesforce.harness import source_spec
from tests.standins.salesforce import Org, StandIn, write_certificate

SIZES = (10_000, 100_000)
FIELDS = ["Id", "Name", "NumberOfEmployees", "SystemModstamp"]


def measure(standin: StandIn, records: int, bulk: bool) -> tuple[Counter[str], int, float]:
    org = standin.org
    org.calls.clear()
    threshold = 1000 if bulk else records
    spec = source_spec(bulk_threshold=threshold, account={"fields": FIELDS})
    started = time.perf_counter()
    scheduler = SalesforceReader(spec, standin.password_secret())
    bounds = scheduler.bounds("Account", None)
    scheduler.close()
    extract = SalesforceReader(spec, standin.password_secret())
    position, rows = None, 0
    while True:
        result = extract.read_chunk("Account", bounds, position, io.BytesIO())
        position = result.position
        if not isinstance(result, WaitFor):
            rows += result.rows
            if position is None:
                break
    extract.close()
    assert rows == records, (rows, records)
    return Counter(org.calls), rows, time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="reef-sf-bench-") as folder:
        cert, key = write_certificate(Path(folder))
        os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
        _print_table(cert, key)


def _print_table(cert: Path, key: Path) -> None:
    print("records  api     requests  logins  breakdown")
    for records in SIZES:
        org = Org()
        org.bulk_polls_to_complete = 2
        org.insert_many("Account", records)
        standin = StandIn(org, cert, key).start()
        try:
            for bulk in (False, True):
                calls, _, seconds = measure(standin, records, bulk)
                logins = calls.pop("login", 0)
                detail = ", ".join(f"{kind} {n}" for kind, n in sorted(calls.items()))
                api = "bulk" if bulk else "rest"
                print(
                    f"{records:>7}  {api:<6} {sum(calls.values()):>9}  {logins:>6}  {detail}"
                    f"  ({seconds:.1f}s)"
                )
        finally:
            standin.stop()


if __name__ == "__main__":
    main()
