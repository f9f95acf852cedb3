// What a user is answered from: the items they have bought (any split), those they dismissed
// (never recommended again) and those they viewed (their history until a first purchase).
// Purchases and views come in the order they were made, the latest last (reasons from recent
// ones are shown first): an ingested purchase by its place in the user's history (`seq`), a
// live one by its time (`at`), after every ingested one. And the catalogue's change marker
// (catalogue/changed): a worker whose offered items were read with another reads them again
// before it answers, so that an item set off is left out of the very next answer.
MATCH (u:User {id: $user})
OPTIONAL MATCH (u)-[b:BOUGHT]->(i:Item)
WITH u, i, coalesce(b.at, 0) AS at, coalesce(b.seq, 0) AS seq
ORDER BY at, seq
WITH u, collect(i.id) AS items
OPTIONAL MATCH (u)-[:DISMISSED]->(d:Item)
WITH u, items, collect(d.id) AS dismissed
OPTIONAL MATCH (u)-[v:VIEWED]->(w:Item)
WITH u, items, dismissed, w, v.at AS at
ORDER BY at
WITH u, items, dismissed, collect(w.id) AS viewed
OPTIONAL MATCH (c:Catalogue {name: 'items'})
RETURN u.id AS user_id, items, dismissed, viewed, c.changed AS changed
