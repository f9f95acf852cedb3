// What each user of $users is answered from: the items they have bought (any split: who they
// are), those they dismissed (never recommended again) and those they viewed (their history
// until a first purchase). Purchases and views in the order they were made, the latest last,
// as cypher/service/user_history.cypher reads them.
UNWIND $users AS id
MATCH (u:User {id: id})
OPTIONAL MATCH (u)-[b:BOUGHT]->(i:Item)
WITH u, i, coalesce(b.at, 0) AS at, coalesce(b.seq, 0) AS seq
ORDER BY at, seq
WITH u, collect(i.id) AS bought
OPTIONAL MATCH (u)-[:DISMISSED]->(d:Item)
WITH u, bought, collect(d.id) AS dismissed
OPTIONAL MATCH (u)-[v:VIEWED]->(w:Item)
WITH u, bought, dismissed, w, v.at AS at
ORDER BY at
RETURN u.id AS user_id, bought AS items, dismissed, collect(w.id) AS viewed
