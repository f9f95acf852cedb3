"""The API keeps to its OpenAPI document, answers with security headers, and serves GraphML.

The document is generated from the routes' models; here openapi-core (another implementation)
checks it and every answer of the test client against it, and schemathesis sends requests
generated from it: no answer may be a 500, and every answer must be one the document allows.
"""
from __future__ import annotations

import io
import json
from collections import Counter

import networkx as nx
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from openapi_core.exceptions import OpenAPIError
from schemathesis import GenerationMode

from graphrec.explain.subgraph import explanation_graph, node_key, user_graph
from tests.openapi_check import check_answer, openapi_of
from web.engine import get_engine
from web.headers import HEADERS


@pytest.fixture(scope="module")
def app(trained_app: Flask) -> Flask:
    return trained_app


@pytest.fixture(scope="module")
def client(trained_app: Flask) -> FlaskClient:
    """One client for the module: :func:`item` asks it once for all the tests."""
    return trained_app.test_client()


@pytest.fixture(scope="module")
def user(sample_user: str) -> str:
    return sample_user


@pytest.fixture(scope="module")
def item(client: FlaskClient, user: str) -> str:
    recs = client.get(f"/api/users/{user}/recommendations").get_json()["recommendations"]
    return next(rec["item_id"] for rec in recs if rec["reason"])


# --- the document ----------------------------------------------------------------------------

def test_document_is_valid_openapi_and_describes_every_field(app: Flask) -> None:
    openapi_of(app)  # openapi-spec-validator runs here: raises on an invalid document
    with app.test_request_context():
        schemas = app.api_doc["components"]["schemas"]
    assert {"already_bought", "paths"} <= set(schemas["Explanation"]["required"])
    assert "cypher" in schemas["Path"]["required"]
    for name in ("Explanation", "Path", "Recommendation", "Node", "Error"):
        assert schemas[name]["additionalProperties"] is False


def test_the_answer_check_catches_an_answer_the_document_does_not_allow(
        client: FlaskClient, user: str, item: str) -> None:
    """The check the test client runs on every answer can fail: an undocumented field does."""
    spec = openapi_of(client.application)
    response = client.get(f"/api/users/{user}/recommendations/{item}/explanation")
    assert check_answer(spec, response)
    body = response.get_json()
    body["paths"][0]["secret"] = "x"
    response.set_data(json.dumps(body))
    with pytest.raises(OpenAPIError):
        check_answer(spec, response)
    assert not check_answer(spec, client.get("/"))  # a page: not in the document


def test_every_status_of_every_route_is_documented(client: FlaskClient, user: str,
                                                   item: str) -> None:
    """Each of these answers is checked against the document by the client (openapi_check)."""
    urls = {
        f"/api/users/{user}/recommendations?k=3": 200,
        f"/api/users/{user}/recommendations?k=0": 400,
        "/api/users/NOBODY/recommendations": 404,
        f"/api/users/{user}/recommendations/{item}/explanation": 200,
        f"/api/users/{user}/recommendations/{item}/explanation?format=graphml": 200,
        f"/api/users/{user}/recommendations/{item}/explanation?format=svg": 400,
        f"/api/users/{user}/recommendations/NOTHING/explanation": 404,
        "/api/users/a%01b/recommendations/I1/explanation": 400,
        "/api/health": 200,
        "/api/openapi.json": 200,
    }
    assert {url: client.get(url).status_code for url in urls} == urls


# --- schemathesis ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_documented_answers(app: Flask, mode: GenerationMode) -> None:
    """Requests generated from the document, valid ones and invalid ones: no 500 (no 5xx at
    all: the store is up and the model loaded), and status, content type, headers and body as
    the document says; invalid input is refused with a 4xx.

    (schemathesis's own pytest loader, ``from_fixture``, needs a pytest attribute that pytest
    9.2 removed; its Hypothesis strategy does the same generation inside an ordinary test.)
    """
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    statuses: Counter[int] = Counter()

    @given(case=schema.as_strategy(generation_mode=mode))
    @hypothesis_settings(max_examples=60, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
    def answers_as_documented(case) -> None:
        statuses[case.call_and_validate().status_code] += 1

    answers_as_documented()
    assert sum(statuses.values()) >= 60
    if mode == GenerationMode.NEGATIVE:
        assert statuses[400] > 0


# --- security headers ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/", "/users/NOBODY", "/nothing", "/static/paths.js",
                                 "/api/health", "/api/users/NOBODY/recommendations",
                                 "/api/users/A1/recommendations?k=x", "/api/nothing"])
def test_security_headers_on_every_answer(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name


def test_the_page_needs_nothing_the_policy_forbids(client: FlaskClient, user: str) -> None:
    """The user page loads its script and stylesheet from /static, and has no inline script,
    style or handler (which the policy blocks)."""
    html = client.get(f"/users/{user}").get_data(as_text=True)
    assert '<script src="/static/paths.js">' in html and 'href="/static/style.css"' in html
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " onclick=" not in html and "javascript:" not in html
    policy = dict(part.split(" ", 1) for part in HEADERS["Content-Security-Policy"].split("; "))
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


# --- reasons as a networkx graph, and as GraphML ---------------------------------------------

def path_edges(paths: list[dict]) -> list[tuple[str, str, str, int]]:
    """(from, to, relationship type, path rank) of every relationship of every path."""
    edges = []
    for rank, path in enumerate(paths, start=1):
        keys = {node["key"]: node_key(node) for node in path["nodes"]}
        edges += [(keys[rel["from"]], keys[rel["to"]], rel["type"], rank)
                  for rel in path["relationships"]]
    return sorted(edges)


def graph_edges(graph: nx.MultiDiGraph) -> list[tuple[str, str, str, int]]:
    return sorted((u, v, data["type"], int(data["path_rank"]))
                  for u, v, data in graph.edges(data=True))


def test_graphml_answer_is_the_json_answers_paths(client: FlaskClient, user: str,
                                                  item: str) -> None:
    url = f"/api/users/{user}/recommendations/{item}/explanation"
    paths = client.get(url).get_json()["paths"]
    response = client.get(f"{url}?format=graphml")
    assert response.status_code == 200 and response.mimetype == "application/graphml+xml"
    graph = nx.read_graphml(io.BytesIO(response.data), force_multigraph=True)
    assert graph.is_directed() and (graph.graph["user"], graph.graph["item"]) == (user, item)
    nodes = {node_key(node): node for path in paths for node in path["nodes"]}
    assert dict(graph.nodes(data=True)) == {
        key: {"type": node["type"], "id": node["id"], "label": node["label"]}
        for key, node in nodes.items()}
    assert graph_edges(graph) == path_edges(paths)
    weights = {(int(data["path_rank"]), data["kind"], data["weight"])
               for _, _, data in graph.edges(data=True)}
    assert weights == {(rank, path["kind"], path["weight"])  # floats survive GraphML exactly
                       for rank, path in enumerate(paths, start=1)}


def test_users_whole_subgraph_holds_the_paths_of_each_recommendation(app: Flask,
                                                                     user: str) -> None:
    with app.app_context():
        service = get_engine().service()
    graph = user_graph(service, user, k=5, top=3)
    recs = service.recommend(user, k=5)
    for rec in recs:
        paths = service.explain(user, rec["item_id"], top=3)["paths"]
        assert paths
        mine = nx.MultiDiGraph((u, v, d) for u, v, d in graph.edges(data=True)
                               if d["item"] == rec["item_id"])
        assert graph_edges(mine) == path_edges(paths)
        assert graph_edges(mine) == graph_edges(explanation_graph(
            service.explain(user, rec["item_id"], top=3)))
    assert {d["item"] for _, _, d in graph.edges(data=True)} == {r["item_id"] for r in recs}
    assert graph.nodes[f"User:{user}"]["type"] == "User"
