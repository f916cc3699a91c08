"""N concurrent clients that each export the flights as NDJSON through one address and
check that they got every row once, in key order: ids 1 to ROWS, no duplicate, no gap.

A client whose transfer is cut (an incomplete chunked body, a reset, a refused
connection, a 503) resumes with ?after= the id of the last whole line it received.

    python3 clients.py BASE_URL CLIENTS ROWS REPORT_JSON
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse


def export(base, rows, result):
    url = urllib.parse.urlsplit(base)
    last = 0
    resumes = 0
    retries = 0
    started = time.monotonic()
    while True:
        path = "/tables/flights?format=ndjson" + (f"&after={last}" if last else "")
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            if response.status == 503:
                response.read()
                retries += 1
                time.sleep(0.2)
                continue
            if response.status != 200:
                raise RuntimeError(f"status {response.status}: {response.read()[:200]!r}")
            rest = b""
            while True:
                block = response.read1(65536)
                if not block:
                    break
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    # {"id":N,...}: the key is the first member.
                    key = int(line[6 : line.index(b",", 6)])
                    if key != last + 1:
                        raise RuntimeError(f"after id {last} came {key}")
                    last = key
            if rest:
                raise RuntimeError(f"a half line at the end: {rest[:80]!r}")
            break
        except (http.client.HTTPException, OSError) as err:
            # Cut: resume after the last whole line.
            resumes += 1
            result["errors"].append(f"{type(err).__name__} after id {last}")
            time.sleep(0.2)
        finally:
            conn.close()
    result.update(rows=last, resumes=resumes, retries=retries,
                  seconds=round(time.monotonic() - started, 1), ok=last == rows)


def main():
    base, clients, rows, report = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    results = [{"errors": []} for _ in range(clients)]
    threads = []
    for result in results:
        def run(result=result):
            try:
                export(base, rows, result)
            except Exception as err:  # a wrong row: the check failed
                result.update(ok=False, failure=str(err))
        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    with open(report, "w") as out:
        json.dump(results, out)
    sys.exit(0 if all(r.get("ok") for r in results) else 1)


if __name__ == "__main__":
    main()
