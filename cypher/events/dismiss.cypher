// "Not interested": $user, $item, $at (milliseconds since the Unix epoch, UTC).
// A user id the store does not know yet is created; no row comes back when the item is not in
// the catalogue. MERGE: dismissing is a state of the pair, so dismissing again adds nothing and
// keeps the time it was first dismissed.
MATCH (i:Item {id: $item})
WHERE i.external IS NULL
MERGE (u:User {id: $user})
// A write to the user before the pair is looked for: two events of one user at once take
// turns on it (Neo4j locks the node; ArcadeDB fails the later commit, which the driver runs
// again), so the second finds the relationship the first made instead of making another.
SET u.event_at = $at
MERGE (u)-[d:DISMISSED]->(i)
ON CREATE SET d.at = $at
RETURN d.at AS at
