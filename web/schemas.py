"""The API's requests and answers as typed models: the OpenAPI document is generated from them.

Request models (path and query) are validated by flask-openapi3 before a view runs; a failure
is answered 400 by :func:`web.errors.validation_error`. Answer models are what the views return,
field for field: they forbid extra fields, so a field the service adds without adding it here
makes the test that validates every answer against the document fail.
"""
from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from graphrec.schema import (
    BOUGHT,
    BY_TYPE,
    ID_PATTERN,
    LABELS,
    LINK_RELATIONS,
    MAX_ID_LENGTH,
    VIEWED,
    id_problem,
)

DEFAULT_K = 10
MAX_K = 100
_DIGITS = re.compile(r"[0-9]{1,9}")


def _decimal(value: Any) -> Any:
    """``k`` as plain ASCII digits: "1.0", "1e2", "+3", " 3", "1_0" or a digit of another
    script, all of which ``int`` reads, are not integers here."""
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("not an integer")
        return int(value)
    return value


def _id(value: str) -> str:
    """What the pattern cannot say of an id (:func:`graphrec.schema.id_problem`)."""
    problem = id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: An id as ``graphrec ingest`` takes it, the one rule of :func:`graphrec.schema.id_problem`.
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH,
                                      pattern=ID_PATTERN), AfterValidator(_id)]


class UserPath(BaseModel):
    user_id: Id = Field(description="the user's id, as in the catalogue")


class ItemPath(UserPath):
    item_id: Id = Field(description="the recommended item's id")


class CatalogueItemPath(BaseModel):
    item_id: Id = Field(description="the item's id, as in the catalogue")


class Query(BaseModel):
    """A query string's model, whose JSON schema is generated once.

    flask-openapi3 reads a query model's JSON schema on every request it validates (to tell
    list fields from others), and pydantic generates it anew each time, for a schema that never
    changes (benchmarks/results/NOTES.md). Each call gets a copy, so no caller can alter the
    kept one.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        if cls not in _QUERY_SCHEMAS:
            _QUERY_SCHEMAS[cls] = super().model_json_schema()
        return copy.deepcopy(_QUERY_SCHEMAS[cls])


_QUERY_SCHEMAS: dict[type[Query], dict[str, Any]] = {}


class RecommendationsQuery(Query):
    k: Annotated[int, BeforeValidator(_decimal)] = Field(
        DEFAULT_K, ge=1, le=MAX_K, description="how many items")


class ExplanationQuery(Query):
    format: Literal["json", "graphml"] = Field(
        "json", description="json, or graphml: the reason paths as one GraphML graph")


class Answer(BaseModel):
    """An answer model: exactly these fields, no others."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Answer):
    status: int
    code: str = Field(examples=["unknown_user"], description="stable, machine-readable")
    message: str


class Error(Answer):
    error: ErrorDetail


class Unavailable(Error):
    """An error answered 503 with a Retry-After header."""

    model_config = ConfigDict(openapi_extra={  # type: ignore[typeddict-unknown-key]
        "description": "the graph store is unreachable, no model is trained, or the item "
                       "was ingested moments ago and is being taken in; retry later",
        "headers": {"Retry-After": {"description": "seconds to wait",
                                    "schema": {"type": "integer"}}}})


class EventIn(BaseModel):
    """A feedback event: what the user did with which item."""

    model_config = ConfigDict(extra="forbid")

    item_id: Id = Field(description="the item's id, as in the catalogue")
    kind: Literal["purchase", "view", "dismiss"] = Field(
        description="purchase: bought it (never recommended to the user again); view: looked "
                    "at it (a user with no purchase yet is answered from their views); dismiss: "
                    "not interested (never recommended to the user again)")


class EventRecorded(Answer):
    user_id: str
    item_id: str
    kind: Literal["purchase", "view", "dismiss"]
    at: int | None = Field(description="milliseconds since the Unix epoch (UTC); null for a "
                                       "purchase ingested with the catalogue")
    created: bool = Field(description="whether a new relationship was written")
    new_user: bool = Field(description="whether the event created the user")


class AvailabilityIn(BaseModel):
    """Whether the shop offers an item now."""

    model_config = ConfigDict(extra="forbid")

    available: StrictBool = Field(
        description="false: out of stock or discontinued, never recommended to anyone (it "
                    "stays in the histories and reason paths); true: recommended again")


class AvailabilitySet(Answer):
    item_id: str
    available: bool
    changed: bool = Field(description="false when the item was so already")


class UserForgotten(Answer):
    user_id: str
    purchases: int = Field(description="purchases taken out of the graph with the user")
    views: int
    dismissals: int
    recommendations: int = Field(description="published recommendations taken out")
    paths: int = Field(description="published reason paths taken out: the user's own and "
                                   "others' that went through them as a co-buyer")
    others_paths: int = Field(description="of paths, other users' (the next graphrec "
                                          "publish writes them again)")


class Node(Answer):
    key: str = Field(description="unique within the path")
    type: str = Field(json_schema_extra={"enum": [*LABELS.values()]})
    id: str = Field(description="the user's or item's id, the brand's or category's name; "
                                "another shopper a co-buyer path goes through is never named: "
                                "\"shopper #1\", \"shopper #2\", … within one answer")
    label: str = Field(description="what a page shows: an item's title, \"another shopper\" "
                                   "for a co-buyer, else the id")


class Relationship(Answer):
    type: str = Field(json_schema_extra={"enum": list(sorted({BOUGHT, VIEWED, *BY_TYPE}))})
    from_: str = Field(alias="from", description="a node key")
    to: str = Field(description="a node key")


class CypherCall(Answer):
    query: str = Field(description="a statement under cypher/, e.g. explain/brand")
    params: dict[str, str | bool | None] = Field(
        description="its parameters; null: any (a co-buyer path's other shopper, whom the "
                    "service does not name); an item link's direction and, in a chain, each "
                    "link's type, so that it finds the path shown and no other (forward, "
                    "first_forward, second_forward: true where the link runs from the path's "
                    "earlier item to its later one)")


class Path(Answer):
    kind: str = Field(examples=["brand"], description=", ".join(
        ("brand", "category", *LINK_RELATIONS, "collaborative", "link_chain"))
        + "; popular for a shopper with no purchase yet")
    weight: float | None = Field(description="the score the pair loses when the path's edges "
                                             "are masked; null for a popular item")
    sentence: str
    nodes: list[Node]
    relationships: list[Relationship]
    cypher: CypherCall = Field(description="the query that finds this path in the store")


class Recommendation(Answer):
    rank: int = Field(description="its place in the list, 1 = first")
    item_id: str
    title: str | None
    brand: str | None
    price: float | None
    category: str | None = Field(description="its most specific category: of those it is in, "
                                             "the one with the fewest items")
    score: float = Field(description="the model's score; the trained items are in its order, "
                                     "and every tenth place (the third too, for one strongly "
                                     "linked) goes to an item added since training, those "
                                     "the user's purchases link to most first")
    new: bool = Field(description="added to the catalogue since the model was trained: placed "
                                  "by its links to the user's purchases, and no co-buyer path "
                                  "until the next training")
    reason: Path | None


class Recommendations(Answer):
    user_id: str
    k: int
    model_version: str
    recommendations: list[Recommendation] = Field(description="best first")


class Explanation(Answer):
    model_config = ConfigDict(openapi_extra={  # type: ignore[typeddict-unknown-key]
        "description": "the item's score and rank, and its reason paths in the order shown: "
                       "strongest first, but of those about as strong the latest purchase's",
        "content": {"application/graphml+xml": {"schema": {"type": "string"}}}})

    user_id: str
    item_id: str
    model_version: str
    score: float
    rank: int | None = Field(description="the item's place in the list the recommendations "
                                         "serve; null when it is not served (bought, viewed by a "
                                         "user answered from views, another listing of a "
                                         "product in those, dismissed, not offered by the shop "
                                         "now, or without a reason path)")
    not_served: Literal["bought", "viewed", "same_product", "dismissed", "unavailable",
                        "no_path"] | None = Field(
        description="why rank is null: bought; viewed (one of the items a user without "
                    "purchases is answered from); same_product (another listing, with the same "
                    "title and brand, of an item bought, or viewed by a user answered from "
                    "views, or of a product the list serves in a listing the model scores "
                    "higher for the user); dismissed; unavailable (the shop does not "
                    "offer it now: PUT /api/items/{item_id}/availability); no_path (nothing "
                    "is served without a reason path); null when the item is served")
    already_bought: bool
    basis: Literal["purchases", "views", "popular"] = Field(
        description="purchases: the user's purchases in the store now; views: the user has "
                    "bought nothing yet and is answered from the items they viewed (the paths "
                    "start with VIEWED); popular: the user has neither, and the shop's most "
                    "bought items stand in")
    paths: list[Path]


class GraphCounts(Answer):
    model_config = ConfigDict(extra="allow")  # the counts, and when they were taken

    users: int | None = None
    items: int | None = None
    purchases: int | None = None
    links: int | None = None


class Check(Answer):
    ok: bool
    version: str | None = None
    message: str | None = None
    stale: bool | None = Field(None, description="the graph changed since the model was "
                                                 "trained: it keeps serving, retrain to learn "
                                                 "from the new data")
    trained_on: GraphCounts | None = None
    graph_now: GraphCounts | None = None
    folded_items: int | None = Field(None, description="items ingested after training, folded "
                                                       "into the model from their neighbours")
    live_purchases: int | None = Field(None, description="purchases reported live since the "
                                                         "model read its graph that the "
                                                         "worker has taken in (its co-buyer "
                                                         "paths go through those of the "
                                                         "items it knows)")


class Checks(Answer):
    store: Check
    model: Check


class Health(Answer):
    model_config = ConfigDict(openapi_extra={  # type: ignore[typeddict-unknown-key]
        "headers": {"Retry-After": {"description": "seconds to wait, when not ready",
                                    "schema": {"type": "integer"}}}})

    status: Literal["ok", "unavailable"]
    checks: Checks
