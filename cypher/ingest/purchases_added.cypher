// $rows: [{user, item, seq, split, at}]: the purchases of an update of the catalogue (ingest
// --update: the shop's orders since the last ingest). A pair new to the store is written as
// ingest/purchases.cypher writes it, and timed as a purchase reported live is (`at` in
// milliseconds since the Unix epoch, the user's indexed `bought_at`): a running service then
// adds it to its co-buyer paths at its next look (service/live_purchases), and a user's history
// lists it after the purchases ingested before. A pair the store holds is left as it is (its
// place in the history, its split, its time): exports overlap, and an order sent again is the
// same order, as an event sent again is.
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (i:Item {id: row.item})
MERGE (u)-[b:BOUGHT]->(i)
ON CREATE SET b.at = row.at, u.bought_at = row.at, b.seq = row.seq, b.split = row.split
