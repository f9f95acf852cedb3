// The purchases reported live (events/purchase) or loaded by an update of the catalogue
// (ingest/purchases_added) at or after $since, the time the served model read its graph (less a
// margin for the clocks of two machines), by user: what the service adds to the purchases its
// co-buyer paths go through until the next training learns them. Found from the users'
// `bought_at` (indexed), not by reading every BOUGHT relationship; a purchase of a whole
// catalogue's ingest has no time. Only those of $splits, the splits a model learns from: a
// test purchase an update loaded is held out, and no path walks it.
MATCH (u:User)
WHERE u.bought_at >= $since
MATCH (u)-[b:BOUGHT]->(i:Item)
WHERE b.at >= $since AND b.split IN $splits
RETURN u.id AS user_id, collect(i.id) AS items, max(b.at) AS latest
