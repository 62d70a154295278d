"""The MCP server as an agent meets it: the official MCP Python SDK (`mcp`) drives the real
`lakehouse` binary over stdio (`lakehouse mcp`) and over streamable HTTP (`/mcp` on
`lakehouse serve`), on a lakehouse with a CSV dataset and an index built with the default
embedding model. The SDK also checks every structured result against its tool's output
schema."""

import asyncio
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import jsonschema
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

TOKEN = "mcp-test-token"
WORKERS = """id,name,role,city,state
w1,Alice Moreno,forklift operator,Chicago,IL
w2,Bob Tran,registered nurse,Denver,CO
w3,Chen Li,welder,Austin,TX
w4,Dana Okafor,forklift operator,Springfield,IL
w5,Eli Brooks,line cook,Chicago,IL
w6,Fay Singh,warehouse associate,Joliet,IL
"""
READ_TOOLS = {
    "list_datasets",
    "get_manifest",
    "query_sql",
    "list_indexes",
    "embed_text",
    "search_vectors",
    "matrix_search",
}
WRITE_TOOLS = {"record_playbook", "ingest"}


@pytest.fixture(scope="module")
def built(tmp_path_factory, lakehouse_bin):
    """A lakehouse with `workers` ingested and embedded into the index `workers`."""
    base = tmp_path_factory.mktemp("mcp")
    csv = base / "workers.csv"
    csv.write_text(WORKERS)
    root = base / "root"
    run = lambda *a: subprocess.run(  # noqa: E731
        [lakehouse_bin, "--root", str(root), *a], check=True, capture_output=True, text=True
    )
    run("ingest", str(csv))
    run(
        "index-dataset", "workers", "--id", "id",
        "--text", "concat(name, ', ', role, ' in ', city)",
        "--metadata", "city,state",
    )
    return root


@pytest.fixture(params=["stdio", "http"])
def setup(request, built, tmp_path, lakehouse_bin):
    """A fresh copy of the built lakehouse, an inbox the server may read and a file outside
    it, and the transport under test."""
    root = tmp_path / "root"
    shutil.copytree(built, root)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "shifts.csv").write_text("id,role,pay\ns1,welder,31\ns2,forklift operator,24\n")
    outside = tmp_path / "secret.csv"
    outside.write_text("id,pin\n1,1234\n")
    server = None
    if request.param == "http":
        server = subprocess.Popen(
            [lakehouse_bin, "--root", str(root), "serve", "--bind", "127.0.0.1:0",
             "--token", TOKEN, "--allow-writes", "--allow-dir", str(inbox)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = server.stdout.readline()
        assert line.startswith("listening on http://"), line
        url = line.split("listening on ")[1].strip() + "/mcp"
    else:
        url = None
    yield {"kind": request.param, "root": root, "inbox": inbox, "outside": outside, "url": url,
           "bin": lakehouse_bin}
    if server is not None:
        server.terminate()
        server.wait(timeout=20)


@asynccontextmanager
async def session(setup, token=TOKEN):
    if setup["kind"] == "stdio":
        params = StdioServerParameters(
            command=setup["bin"],
            args=["--root", str(setup["root"]), "mcp", "--allow-writes",
                  "--allow-dir", str(setup["inbox"])],
        )
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                yield s
    else:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with client, streamable_http_client(setup["url"], http_client=client) as (read, write):
            async with ClientSession(read, write) as s:
                yield s


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


async def call(s, tool, **args):
    """Calls a tool that must succeed; returns its structured content."""
    r = await s.call_tool(tool, args)
    assert not r.is_error, (tool, r.content)
    assert r.content and r.content[0].type == "text" and r.content[0].text
    return r.structured_content


async def call_error(s, tool, **args):
    """Calls a tool that must fail inside the lakehouse; returns the error's kind."""
    r = await s.call_tool(tool, args)
    assert r.is_error, (tool, r)
    kind = r.structured_content["error"]["kind"]
    assert r.content[0].text.startswith(kind + ": ")
    return kind


def test_tools_and_their_schemas(setup):
    async def go():
        async with session(setup) as s:
            init = await s.initialize()
            assert init.server_info.name == "lakehouse"
            assert init.capabilities.tools is not None
            assert init.capabilities.resources is not None
            tools = (await s.list_tools()).tools
            assert {t.name for t in tools} == READ_TOOLS | WRITE_TOOLS
            for t in tools:
                jsonschema.validators.validator_for(t.input_schema).check_schema(t.input_schema)
                assert t.input_schema["type"] == "object"
                jsonschema.validators.validator_for(t.output_schema).check_schema(t.output_schema)
                assert len(t.description) > 40, t.name
                assert t.annotations.read_only_hint == (t.name in READ_TOOLS), t.name
                assert t.annotations.idempotent_hint is True
    run(go())


def test_every_tool_on_a_real_lakehouse(setup):
    async def go():
        async with session(setup) as s:
            await s.initialize()
            d = await call(s, "list_datasets")
            assert [x["name"] for x in d["datasets"]] == ["workers"]
            assert d["datasets"][0]["row_count"] == 6

            m = await call(s, "get_manifest", name="workers")
            assert [c["name"] for c in m["columns"]] == ["id", "name", "role", "city", "state"]
            assert m["versions"][0]["version"] == 0

            q = await call(s, "query_sql",
                           sql="SELECT state, count(*) AS n FROM workers GROUP BY state ORDER BY n DESC")
            assert q["rows"][0] == ["IL", 4] and q["truncated"] is False
            q = await call(s, "query_sql", sql="SELECT id FROM workers ORDER BY id", max_rows=2)
            assert q["rows"] == [["w1"], ["w2"]] and q["truncated"] is True and "note" in q

            idx = await call(s, "list_indexes")
            assert [(i["spec"]["name"], i["count"]) for i in idx["indexes"]] == [("workers", 6)]

            e = await call(s, "embed_text", texts=["forklift driver", "nurse"], purpose="query")
            assert e["dimension"] == 384 and len(e["vectors"]) == 2
            assert len(e["vectors"][0]) == 384

            hits = (await call(s, "search_vectors", index="workers", text="forklift operator", k=3))["hits"]
            assert hits[0]["id"] in ("w1", "w4"), hits
            assert hits[0]["distance"] <= hits[1]["distance"] <= hits[2]["distance"]
            first = [h["id"] for h in hits]
            hits = (await call(s, "search_vectors", index="workers", text="forklift operator",
                               k=3, exclude_ids=first))["hits"]
            assert not set(first) & {h["id"] for h in hits}
            hits = (await call(s, "search_vectors", index="workers", text="cook",
                               k=10, filter={"state": "CO"}))["hits"]
            assert [h["id"] for h in hits] == ["w2"]
            vector = e["vectors"][0]
            hits = (await call(s, "search_vectors", index="workers", vector=vector, k=1))["hits"]
            assert len(hits) == 1

            query = "warehouse help near Chicago"
            plain = await call(s, "matrix_search", corpora=["workers"], text=query, k=3)
            assert len(plain["hits"]) == 3 and plain["hits"][0]["corpus"] == "workers"
            # Remember an answer that did not come first; the playbook halves its distance
            # (score 1) and it moves up.
            answer = plain["hits"][-1]
            rec = await call(s, "record_playbook", query_text=query, answer_id=answer["id"],
                             answer_corpus="workers", score=1.0)
            assert len(rec["playbook_id"]) == 64
            helped = await call(s, "matrix_search", corpora=["workers"], text=query, k=3,
                                use_playbook=True)
            assert helped["boosted"] == 1, helped
            ids = [h["id"] for h in helped["hits"]]
            boosted = helped["hits"][ids.index(answer["id"])]
            assert boosted["playbook"]["playbook_id"] == rec["playbook_id"]
            assert boosted["distance"] == pytest.approx(answer["distance"] * 0.5, rel=1e-4)
            assert ids.index(answer["id"]) < 2, helped

            ing = await call(s, "ingest", path=str(setup["inbox"] / "shifts.csv"))
            assert (ing["name"], ing["version"], ing["row_count"]) == ("shifts", 0, 2)
            q = await call(s, "query_sql", sql="SELECT sum(pay) FROM shifts")
            assert q["rows"] == [[55]]
    run(go())


def test_refusals_and_errors(setup):
    async def go():
        async with session(setup) as s:
            await s.initialize()
            for sql in ("DROP TABLE workers", "COPY workers TO '/tmp/out.csv'",
                        "CREATE TABLE t AS SELECT 1",
                        "INSERT INTO workers VALUES ('w9', 'Zed', 'cook', 'Gary', 'IN')"):
                assert await call_error(s, "query_sql", sql=sql) == "validation", sql
            assert await call_error(s, "query_sql", sql="SELEC 1") == "invalid_input"
            assert await call_error(s, "get_manifest", name="nobody") == "not_found"
            assert await call_error(s, "search_vectors", index="nobody", text="x") == "not_found"
            # Outside the allowed folder: refused, and nothing is written.
            for path in (setup["outside"], setup["inbox"] / ".." / "secret.csv", "/etc/passwd"):
                assert await call_error(s, "ingest", path=str(path), name="stolen") == "validation"
            d = await call(s, "list_datasets")
            assert "stolen" not in [x["name"] for x in d["datasets"]]

            # Bad arguments are JSON-RPC invalid-params errors naming the field.
            for tool, args, field in [
                ("query_sql", {}, "sql"),
                ("query_sql", {"sql": 1}, "sql"),
                ("query_sql", {"sql": "SELECT 1", "max_rows": "ten"}, "max_rows"),
                ("search_vectors", {"index": "workers", "text": "x", "k": -3}, "k"),
                ("search_vectors", {"index": "workers", "txt": "x"}, "txt"),
                ("embed_text", {"texts": ["a"], "purpose": "search"}, "purpose"),
            ]:
                with pytest.raises(MCPError) as err:
                    await s.call_tool(tool, args)
                assert err.value.error.code == -32602, (tool, args)
                assert field in err.value.error.message, err.value.error.message
            with pytest.raises(MCPError) as err:
                await s.call_tool("no_such_tool", {})
            assert err.value.error.code == -32602
            # The server is still answering.
            assert (await call(s, "query_sql", sql="SELECT 1 AS one"))["rows"] == [[1]]
    run(go())


def test_resources(setup):
    async def go():
        async with session(setup) as s:
            await s.initialize()
            listed = {str(r.uri): r for r in (await s.list_resources()).resources}
            assert set(listed) == {"lakehouse://datasets/workers", "lakehouse://indexes/workers"}
            assert all(r.mime_type == "application/json" for r in listed.values())
            templates = (await s.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {
                "lakehouse://datasets/{name}", "lakehouse://indexes/{name}"}
            d = json.loads((await s.read_resource("lakehouse://datasets/workers")).contents[0].text)
            assert d["row_count"] == 6 and len(d["sample"]["rows"]) == 6
            assert [c["name"] for c in d["sample"]["columns"]][:2] == ["id", "name"]
            i = json.loads((await s.read_resource("lakehouse://indexes/workers")).contents[0].text)
            assert i["count"] == 6 and i["spec"]["dimensions"] == 384
            with pytest.raises(MCPError):
                await s.read_resource("lakehouse://datasets/nobody")
    run(go())


def test_http_needs_the_token(setup):
    if setup["kind"] != "http":
        pytest.skip("the token guards the HTTP transport")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        req = urllib.request.Request(
            setup["url"], data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream", **headers})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401

    async def go():
        async with session(setup, token="wrong") as s:
            await s.initialize()
    # The SDK's session fails on the 401 (inside its task groups).
    with pytest.raises(BaseException) as err:
        run(go())
    assert any(isinstance(e, MCPError) for e in leaves(err.value)), err.value


def leaves(e):
    """The exceptions inside (nested) exception groups."""
    for inner in getattr(e, "exceptions", None) or [e]:
        yield from (leaves(inner) if inner is not e else [e])


def test_http_without_a_token_answers_only_loopback_names(tmp_path, lakehouse_bin):
    """A token-less server (loopback only) refuses other Host names: no DNS rebinding."""
    server = subprocess.Popen(
        [lakehouse_bin, "--root", str(tmp_path / "root"), "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        base = server.stdout.readline().split("listening on ")[1].strip()
        port = base.rsplit(":", 1)[1]
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}).encode()

        def post(host):
            req = urllib.request.Request(base + "/mcp", data=body, method="POST", headers={
                "Host": host, "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, None

        status, reply = post(f"127.0.0.1:{port}")
        assert status == 200 and reply["result"]["serverInfo"]["name"] == "lakehouse"
        assert post(f"localhost:{port}")[0] == 200
        assert post("attacker.example.com")[0] == 403
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_stdio_keeps_stdout_for_the_protocol(built, tmp_path, lakehouse_bin):
    """Every line the stdio server writes is a JSON-RPC message; logs go to stderr."""
    root = tmp_path / "root"
    shutil.copytree(built, root)
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "query_sql", "arguments": {"sql": "SELECT count(*) AS n FROM workers"}}},
    ]
    p = subprocess.run(
        [lakehouse_bin, "--root", str(root), "mcp"],
        input="".join(json.dumps(m) + "\n" for m in msgs),
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "RUST_LOG": "debug"},
    )
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert [m.get("id") for m in lines] == [1, 2], p.stdout
    assert lines[1]["result"]["structuredContent"]["rows"] == [[6]]
    assert p.stderr.strip(), "debug logs go to stderr"
