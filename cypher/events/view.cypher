// A product page seen: $user, $item, $at (milliseconds since the Unix epoch, UTC).
// A user id the store does not know yet is created; no row comes back when the item is not in
// the catalogue. MERGE, one VIEWED per pair holding the last time and a count: views repeat
// (every visit, every reload), and a relationship per view would grow the graph without bound
// and fill every Browser picture of the user with parallel edges.
MATCH (i:Item {id: $item})
WHERE i.external IS NULL
MERGE (u:User {id: $user})
// A write to the user before the pair is looked for: two events of one user at once take
// turns on it (Neo4j locks the node; ArcadeDB fails the later commit, which the driver runs
// again), so the second finds the relationship the first made instead of making another.
SET u.event_at = $at
MERGE (u)-[v:VIEWED]->(i)
ON CREATE SET v.count = 0
SET v.at = $at, v.count = v.count + 1
RETURN v.at AS at, v.count AS count
