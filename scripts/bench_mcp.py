"""Latency of MCP tool calls as an agent sees them: the official MCP Python SDK calls
`lakehouse mcp` (stdio) and `/mcp` on `lakehouse serve` (streamable HTTP), one call at a
time, and prints p50/p99 per tool. The lakehouse is a generated dataset of ROWS profiles
embedded into an index with the default model, built once in the benches' data folder
($LAKEHOUSE_BENCH_DIR, else $CARGO_TARGET_DIR/bench-data).

    python3 scripts/bench_mcp.py [ROWS] [CALLS]      # LAKEHOUSE_BIN=path/to/lakehouse
"""

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

ROLES = ["forklift operator", "registered nurse", "welder", "line cook", "warehouse associate",
         "electrician", "truck driver", "dental assistant", "machinist", "cashier"]
CITIES = [("Chicago", "IL"), ("Denver", "CO"), ("Austin", "TX"), ("Joliet", "IL"),
          ("Boston", "MA"), ("Tampa", "FL"), ("Reno", "NV"), ("Omaha", "NE")]


def build(root: Path, rows: int, cli: str) -> None:
    if (root / "done").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = random.Random(7)
    csv = root.parent / f"mcp-profiles-{rows}.csv"
    with open(csv, "w") as f:
        f.write("id,role,city,state,years\n")
        for i in range(rows):
            city, state = rng.choice(CITIES)
            f.write(f"w{i},{rng.choice(ROLES)},{city},{state},{rng.randint(0, 30)}\n")
    run = lambda *a: subprocess.run([cli, "--root", str(root), *a], check=True)  # noqa: E731
    run("ingest", str(csv), "--name", "workers")
    run("index-dataset", "workers", "--id", "id", "--text",
        "concat(role, ' in ', city, ', ', state, ', ', years, ' years')",
        "--metadata", "state")
    (root / "done").write_text("")


CALLS = {
    "query_sql": {"sql": "SELECT state, count(*) AS n FROM workers GROUP BY state"},
    "search_vectors": {"index": "workers", "text": "forklift operator near Chicago", "k": 10},
    "matrix_search": {"corpora": ["workers"], "text": "night shift nurse in Denver", "k": 10},
    "list_datasets": {},
}


async def measure(session: ClientSession, calls: int) -> dict:
    await session.initialize()
    out = {}
    for tool, args in CALLS.items():
        for _ in range(5):  # warm: model, index, embedding cache
            await session.call_tool(tool, args)
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            r = await session.call_tool(tool, args)
            times.append((time.perf_counter() - t) * 1000)
            assert not r.is_error, r.content
        times.sort()
        out[tool] = (times[len(times) // 2], times[int(len(times) * 0.99) - 1])
    return out


async def stdio(root: Path, cli: str, calls: int) -> dict:
    params = StdioServerParameters(command=cli, args=["--root", str(root), "mcp"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            return await measure(s, calls)


async def http(root: Path, cli: str, calls: int) -> dict:
    server = subprocess.Popen([cli, "--root", str(root), "serve", "--bind", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().split("listening on ")[1].strip() + "/mcp"
        async with streamable_http_client(url) as (read, write):
            async with ClientSession(read, write) as s:
                return await measure(s, calls)
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    cli = os.environ.get("LAKEHOUSE_BIN") or shutil.which("lakehouse")
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/lakehouse-target")
    data = Path(os.environ.get("LAKEHOUSE_BENCH_DIR") or Path(target) / "bench-data")
    root = data / f"mcp-{rows}"
    build(root, rows, cli)
    print(f"{rows} profiles, {calls} calls per tool, one at a time; ms")
    print(f"{'transport':<10}{'tool':<16}{'p50':>8}{'p99':>8}")
    for name, fn in (("stdio", stdio), ("http", http)):
        for tool, (p50, p99) in asyncio.run(fn(root, cli, calls)).items():
            print(f"{name:<10}{tool:<16}{p50:>8.2f}{p99:>8.2f}")


if __name__ == "__main__":
    main()
