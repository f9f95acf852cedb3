// What each user of $users is answered from: the items they have bought (any split: who they
// are), those they dismissed (never recommended again) and those they viewed (their history
// until a first purchase).
UNWIND $users AS id
MATCH (u:User {id: id})
OPTIONAL MATCH (u)-[:BOUGHT]->(i:Item)
WITH u, collect(i.id) AS bought
OPTIONAL MATCH (u)-[:DISMISSED]->(d:Item)
WITH u, bought, collect(d.id) AS dismissed
OPTIONAL MATCH (u)-[:VIEWED]->(v:Item)
RETURN u.id AS user_id, bought AS items, dismissed, collect(v.id) AS viewed
