"""The OpenAPI 3 description of the JSON API, written by hand."""
from __future__ import annotations

from typing import Any


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _unavailable() -> dict[str, Any]:
    response = _error("the graph store is unreachable or no model is trained; retry later")
    response["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                           "description": "seconds to wait"}}
    return response


def openapi_document(max_k: int, max_id_length: int) -> dict[str, Any]:
    id_schema = {"type": "string", "minLength": 1, "maxLength": max_id_length,
                 "pattern": "^[^\\x00-\\x1f\\x7f]+$"}
    user = {"name": "user_id", "in": "path", "required": True, "schema": id_schema,
            "description": "the user's id, as in the catalogue"}
    item = {"name": "item_id", "in": "path", "required": True, "schema": id_schema,
            "description": "the recommended item's id"}
    common = {"400": _error("malformed id or k"), "500": _error("unexpected server error"),
              "503": _unavailable()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "graphrec", "version": "1",
                 "description": "Explainable product recommendations from a knowledge graph: "
                                "each recommendation comes with its reasons as paths in the "
                                "graph."},
        "paths": {
            "/api/users/{user_id}/recommendations": {"get": {
                "summary": "The top k items for a user, each with its best reason",
                "operationId": "recommend",
                "parameters": [user, {"name": "k", "in": "query", "required": False,
                                      "schema": {"type": "integer", "minimum": 1,
                                                 "maximum": max_k, "default": 10}}],
                "responses": {
                    "200": {"description": "recommendations, best first", "content": {
                        "application/json": {"schema": {
                            "$ref": "#/components/schemas/Recommendations"}}}},
                    "404": _error("unknown user"), **common}}},
            "/api/users/{user_id}/recommendations/{item_id}/explanation": {"get": {
                "summary": "Why an item is recommended to a user: reason paths in the graph",
                "operationId": "explain",
                "parameters": [user, item],
                "responses": {
                    "200": {"description": "the item's score and rank, and its reason paths, "
                                           "strongest first", "content": {
                        "application/json": {"schema": {
                            "$ref": "#/components/schemas/Explanation"}}}},
                    "404": _error("unknown user or item"), **common}}},
            "/api/users/{user_id}/events": {"post": {
                "summary": "Record a purchase, a product view or a dismissal (not interested)",
                "description": "Writes the event into the graph; the next request reflects it. "
                               "A user id the store does not know yet is created. Repeating a "
                               "purchase or a dismissal changes nothing (200); a view updates "
                               "its time and count.",
                "operationId": "postEvent",
                "security": [{"bearer": []}],
                "parameters": [{**user, "description": "the user's id; a new one is created"}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/EventIn"}}}},
                "responses": {
                    "201": {"description": "written", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Event"}}}},
                    "200": {"description": "already there (a repeated purchase or dismissal), "
                                           "or a repeated view counted",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Event"}}}},
                    "400": _error("malformed id or body"),
                    "401": _error("no or wrong bearer token"),
                    "403": _error("writes are disabled: the server has no GRAPHREC_API_TOKEN"),
                    "404": _error("unknown item"),
                    "413": _error("body too large"),
                    "500": common["500"], "503": common["503"]}}},
            "/api/health": {"get": {
                "summary": "Whether the graph store answers and a model is loaded",
                "operationId": "health",
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Health"}}}},
                    "503": {"description": "not ready", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Health"}}}}}}},
            "/api/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3 document",
                                      "content": {"application/json": {}}}}}},
        },
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "the server's GRAPHREC_API_TOKEN"}}, "schemas": {
            "EventIn": {"type": "object", "required": ["item_id", "kind"], "properties": {
                "item_id": id_schema,
                "kind": {"type": "string", "enum": ["purchase", "view", "dismiss"]}}},
            "Event": {"type": "object", "properties": {
                "user_id": {"type": "string"}, "item_id": {"type": "string"},
                "kind": {"type": "string"},
                "at": {"type": "integer", "nullable": True,
                       "description": "milliseconds since the Unix epoch (UTC); null for a "
                                      "purchase ingested with the catalogue"},
                "created": {"type": "boolean"}, "new_user": {"type": "boolean"}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["status", "code", "message"], "properties": {
                    "status": {"type": "integer"},
                    "code": {"type": "string", "example": "unknown_user"},
                    "message": {"type": "string"}}}}},
            "Node": {"type": "object", "required": ["key", "type", "id", "label"],
                     "properties": {
                         "key": {"type": "string", "description": "unique within the path"},
                         "type": {"type": "string",
                                  "enum": ["User", "Item", "Brand", "Category"]},
                         "id": {"type": "string"}, "label": {"type": "string"}}},
            "Relationship": {"type": "object", "required": ["type", "from", "to"],
                             "properties": {
                                 "type": {"type": "string", "example": "HAS_BRAND"},
                                 "from": {"type": "string", "description": "a node key"},
                                 "to": {"type": "string", "description": "a node key"}}},
            "Path": {"type": "object", "required": ["kind", "sentence", "nodes", "relationships"],
                     "properties": {
                         "kind": {"type": "string", "example": "brand"},
                         "weight": {"type": "number", "nullable": True},
                         "sentence": {"type": "string"},
                         "nodes": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/Node"}},
                         "relationships": {"type": "array", "items": {
                             "$ref": "#/components/schemas/Relationship"}}}},
            "Recommendation": {"type": "object",
                               "required": ["rank", "item_id", "score"], "properties": {
                                   "rank": {"type": "integer"},
                                   "item_id": {"type": "string"},
                                   "title": {"type": "string", "nullable": True},
                                   "brand": {"type": "string", "nullable": True},
                                   "price": {"type": "number", "nullable": True},
                                   "score": {"type": "number"},
                                   "reason": {"allOf": [{"$ref": "#/components/schemas/Path"}],
                                              "nullable": True}}},
            "Recommendations": {"type": "object", "properties": {
                "user_id": {"type": "string"}, "k": {"type": "integer"},
                "model_version": {"type": "string"},
                "recommendations": {"type": "array", "items": {
                    "$ref": "#/components/schemas/Recommendation"}}}},
            "Explanation": {"type": "object", "properties": {
                "user_id": {"type": "string"}, "item_id": {"type": "string"},
                "model_version": {"type": "string"},
                "score": {"type": "number"}, "rank": {"type": "integer", "nullable": True},
                "paths": {"type": "array", "items": {"$ref": "#/components/schemas/Path"}}}},
            "Health": {"type": "object", "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "checks": {"type": "object", "properties": {
                    "store": {"type": "object"}, "model": {"type": "object"}}}}},
        }},
    }
