// A purchase reported by the shop: $user, $item, $at (milliseconds since the Unix epoch, UTC).
// A user id the store does not know yet is created (a new customer); no row comes back when the
// item is not in the catalogue. MERGE: a purchase is a fact about a pair, so a retried request
// adds nothing, and a pair bought before (train or test) keeps its split: only a new pair is
// written as split 'live'. The user's `bought_at` (indexed) is when they last bought a new pair:
// what a running service looks for to add the purchases to its co-buyer paths
// (service/live_purchases).
MATCH (i:Item {id: $item})
WHERE i.external IS NULL
MERGE (u:User {id: $user})
// A write to the user before the pair is looked for: two events of one user at once take
// turns on it (Neo4j locks the node; ArcadeDB fails the later commit, which the driver runs
// again), so the second finds the relationship the first made instead of making another.
SET u.event_at = $at
MERGE (u)-[b:BOUGHT]->(i)
ON CREATE SET b.split = 'live', b.at = $at, u.bought_at = $at
RETURN b.split AS split, b.at AS at
