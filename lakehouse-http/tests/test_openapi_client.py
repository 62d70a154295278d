"""The OpenAPI document as an API user meets it: the document `lakehouse serve` answers at
/v1/openapi.json validates as OpenAPI 3.1 (openapi-spec-validator), and a Python client
generated from it with openapi-python-client (typed models, one function per operationId)
creates an index, adds records, searches (with a filter), ingests a CSV file, appends to it
and compacts it, runs SQL and reads the typed errors of bad requests, against the real
binary behind a token."""

import importlib
import json
import subprocess
import sys
import urllib.request
from io import BytesIO

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

TOKEN = "openapi-test-token"
PACKAGE = "lakehouse_openapi_client"


@pytest.fixture(scope="module")
def served(tmp_path_factory, lakehouse_bin):
    """`lakehouse serve` on a fresh root, its URL and its OpenAPI document."""
    root = tmp_path_factory.mktemp("openapi") / "root"
    server = subprocess.Popen(
        [lakehouse_bin, "--root", str(root), "serve", "--bind", "127.0.0.1:0",
         "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = server.stdout.readline()
    assert line.startswith("listening on http://"), line
    url = line.split("listening on ")[1].strip()
    request = urllib.request.Request(
        url + "/v1/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request) as reply:
        document = json.load(reply)
    yield url, document
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def client_package(served, tmp_path_factory):
    """The client generated from the served document, importable as `PACKAGE`."""
    _, document = served
    work = tmp_path_factory.mktemp("client")
    (work / "openapi.json").write_text(json.dumps(document))
    # No post hooks: the generated code is used as written (formatting it needs ruff).
    (work / "config.yaml").write_text(
        f"package_name_override: {PACKAGE}\nproject_name_override: {PACKAGE}\npost_hooks: []\n"
    )
    out = work / "src" / PACKAGE
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate",
         "--path", str(work / "openapi.json"), "--output-path", str(out),
         "--meta", "none", "--config", str(work / "config.yaml")],
        capture_output=True, text=True,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # The generator warns about every operation or schema it had to leave out: none may be.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    sys.path.insert(0, str(work / "src"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work / "src"))


def test_the_document_is_valid_openapi_3_1(served):
    _, document = served
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any fault; detects 3.1 from the document
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["tags"], operation["operationId"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                assert "$ref" in body["schema"], operation["operationId"]
    # Request and answer schemas come from the types, with their field documentation.
    schemas = document["components"]["schemas"]
    search = schemas["IndexQuery"]
    assert {"vector", "text", "k", "filter", "exact"} <= set(search["properties"])
    assert "embedded as a search query" in search["properties"]["text"]["description"]
    assert schemas["SearchAnswer"]["required"] == ["hits"]
    assert set(schemas["Hit"]["required"]) >= {"id", "distance"}
    # A fault is found: the validator is not a formality.
    broken = json.loads(json.dumps(document))
    broken["paths"]["/v1/sql"]["post"]["responses"] = {"200": {"content": {}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_a_generated_client_searches_and_runs_sql(served, client_package):
    """Create an index, add records, search with a filter, ingest a CSV file and query it,
    all through the generated functions and models; errors parse into the error model."""
    url, _ = served
    api = f"{PACKAGE}.api"
    create_index = importlib.import_module(f"{api}.indexes.create_index")
    add_records = importlib.import_module(f"{api}.indexes.add_records")
    search_index = importlib.import_module(f"{api}.indexes.search_index")
    ingest = importlib.import_module(f"{api}.datasets.ingest")
    sql = importlib.import_module(f"{api}.sql.sql")
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")

    client = client_package.AuthenticatedClient(base_url=url, token=TOKEN)

    created = create_index.sync_detailed(
        client=client, body=models.IndexSpec(name="workers", dimensions=3)
    )
    assert created.status_code == 201, created.content
    info = created.parsed
    assert isinstance(info, models.IndexInfo)
    # The answer carries every field, defaults included (the serialize contract).
    assert info.count == 0 and info.spec.dimensions == 3 and info.spec.metric == "cosine"

    records = [
        models.RecordInput(id="w1", vector=[1.0, 0.0, 0.0], metadata={"city": "Chicago"}),
        models.RecordInput(id="w2", vector=[0.0, 1.0, 0.0], metadata={"city": "Denver"}),
        models.RecordInput(id="w3", vector=[0.9, 0.1, 0.0], metadata={"city": "Denver"}),
        models.RecordInput(id="w4", vector=[0.8, 0.3, 0.1], metadata={"city": "Chicago"}),
    ]
    added = add_records.sync(client=client, name="workers", body=models.AddRequest(records=records))
    assert isinstance(added, models.Added), added
    assert (added.added, added.count) == (4, 4)

    found = search_index.sync(
        client=client, name="workers", body=models.IndexQuery(vector=[1.0, 0.0, 0.0], k=2)
    )
    assert isinstance(found, models.SearchAnswer), found
    assert [h.id for h in found.hits] == ["w1", "w3"]
    assert found.hits[0].distance < found.hits[1].distance
    chicago = models.MetadataFilter.from_dict({"city": "Chicago"})
    filtered = search_index.sync(
        client=client,
        name="workers",
        body=models.IndexQuery(vector=[1.0, 0.0, 0.0], k=2, filter_=chicago),
    )
    assert [h.id for h in filtered.hits] == ["w1", "w4"]

    # A dataset through the generated ingest function (the file as the body), then SQL.
    csv = b"id,role,pay\nw1,welder,31\nw2,forklift operator,24\nw3,welder,29\n"
    report = ingest.sync_detailed(
        client=client, name="shifts", body=types.File(payload=BytesIO(csv)), format_="csv"
    )
    assert report.status_code == 201, report.content
    assert isinstance(report.parsed, models.IngestReport)
    assert report.parsed.manifest.row_count == 3

    # An append makes a second file; the compaction merges the two.
    more = b"id,role,pay\nw4,welder,27\n"
    appended = ingest.sync_detailed(
        client=client, name="shifts", body=types.File(payload=BytesIO(more)), mode="append"
    )
    assert appended.status_code == 201, appended.content
    optimize = importlib.import_module(f"{api}.datasets.optimize_dataset")
    optimized = optimize.sync(client=client, name="shifts")
    assert isinstance(optimized, models.OptimizeReport), optimized
    assert (optimized.files_removed, optimized.files_added) == (2, 1)
    assert optimized.manifest.row_count == 4

    result = sql.sync(
        client=client,
        body=models.SqlRequest(
            sql="SELECT role, count(*) AS n, max(pay) AS top FROM shifts GROUP BY role ORDER BY role"
        ),
    )
    assert isinstance(result, models.JsonResult), result
    assert [c.name for c in result.columns] == ["role", "n", "top"]
    assert result.row_count == 2
    assert result.rows == [["forklift operator", 1, 24], ["welder", 3, 31]]

    # Errors arrive in their documented shape, parsed into the error model.
    bad = sql.sync_detailed(client=client, body=models.SqlRequest(sql="DROP TABLE shifts"))
    assert bad.status_code == 422, bad.content
    assert isinstance(bad.parsed, models.ErrorBody)
    assert bad.parsed.error.kind == "validation"
    assert "only queries" in bad.parsed.error.message and bad.parsed.error.request_id
    refused = sql.sync_detailed(
        client=client_package.Client(base_url=url), body=models.SqlRequest(sql="SELECT 1")
    )
    assert refused.status_code == 401
    assert refused.parsed.error.kind == "unauthorized"
