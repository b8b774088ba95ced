#!/usr/bin/env python3
"""Submit a build to an albs server, follow its task logs, wait for the result.

    ALBS_SERVER=http://127.0.0.1:8080 ALBS_TOKEN=albs_... \\
        python examples/python/submit_build.py --arch x86_64 path/to/git/hello

Exits 0 when the build succeeded, 1 when it failed, 2 on an albs error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import albs

FINAL = {"succeeded", "failed", "timed_out", "cancelled", "excluded"}


def follow(client: albs.Client, build: dict[str, Any], poll: float) -> dict[str, Any]:
    """Prints new log lines of every task until the whole build has ended."""
    offsets: dict[int, int] = {}
    while True:
        for task in build["tasks"]:
            tid = int(task["id"])
            lines, nxt, _done = client.log(tid, offsets.get(tid, 0))
            offsets[tid] = nxt
            label = task["kind"].get("arch") or task["kind"]["kind"]
            for line in lines:
                print(f"[{tid} {label}] {line}")
        if build["state"] in FINAL:
            return build
        time.sleep(poll)
        build = client.build(int(build["id"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("refs", nargs="+", help="git repository paths or URLs, or SRPMs")
    p.add_argument("--server", default=os.environ.get("ALBS_SERVER", "http://127.0.0.1:8080"))
    p.add_argument("--token", default=os.environ.get("ALBS_TOKEN"))
    p.add_argument("--platform", default="almalinux-9")
    p.add_argument("--arch", action="append", default=[], help="repeat; default: the platform's")
    p.add_argument("--download", type=Path, help="download the artifacts into this directory")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
    args = p.parse_args(argv)

    client = albs.Client(args.server, args.token)
    try:
        build = client.submit(args.platform, args.arch, args.refs)
        print(f"build {build['id']} submitted ({len(build['tasks'])} tasks)", file=sys.stderr)
        build = follow(client, build, args.poll)
        for task in build["tasks"]:
            reason = f": {task['reason']}" if task.get("reason") else ""
            print(f"task {task['id']}: {task['state']}{reason}", file=sys.stderr)
            for artifact in task["artifacts"]:
                print(f"  {artifact['name']}  sha256:{artifact['sha256']}")
                if args.download:
                    name = Path(artifact["name"]).name
                    args.download.mkdir(parents=True, exist_ok=True)
                    client.download(artifact["sha256"], args.download / name)
    except albs.ApiError as e:
        print(f"albs server error ({e.status}): {e}", file=sys.stderr)
        return 2
    except albs.AlbsError as e:
        print(f"albs: {e}", file=sys.stderr)
        return 2
    print(f"build {build['id']}: {build['state']}", file=sys.stderr)
    return 0 if build["state"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
