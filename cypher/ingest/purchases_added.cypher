// $rows: [{user, item, seq, split, at}]: the purchases of an update of the catalogue (ingest
// --update: the shop's orders since the last ingest), as ingest/purchases.cypher writes them,
// and a pair new to the store timed as a purchase reported live is (`at` in milliseconds since
// the Unix epoch, the user's indexed `bought_at`): a running service then adds it to its
// co-buyer paths at its next look (service/live_purchases), and a user's history lists it after
// the purchases ingested before. A pair bought before keeps its time, or has none.
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (i:Item {id: row.item})
MERGE (u)-[b:BOUGHT]->(i)
ON CREATE SET b.at = row.at, u.bought_at = row.at
SET b.seq = row.seq, b.split = row.split
