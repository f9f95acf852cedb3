// The purchases reported live (events/purchase) at or after $since, the time the served model read
// its graph (less a margin for the clocks of two machines), by user: what the service adds to
// the purchases its co-buyer paths go through until the next training learns them. Found from
// the users' `bought_at` (indexed), not by reading every BOUGHT relationship.
MATCH (u:User)
WHERE u.bought_at >= $since
MATCH (u)-[b:BOUGHT]->(i:Item)
WHERE b.split = 'live' AND b.at >= $since
RETURN u.id AS user_id, collect(i.id) AS items, max(b.at) AS latest
