// Schema of the published recommendations (graphrec publish); safe to run again.
// The key that the STEP writes MATCH on, and the lookup the Browser queries filter by.
CREATE CONSTRAINT explanation_id IF NOT EXISTS FOR (n:Explanation) REQUIRE n.id IS UNIQUE;
CREATE INDEX explanation_kind IF NOT EXISTS FOR (n:Explanation) ON (n.kind);
