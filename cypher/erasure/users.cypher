// Takes the users $ids out of the graph with every relationship they have, and says what each
// had: purchases, views, dismissals and published recommendations. No row for an id the store
// does not hold. Their published reason paths go first (erasure/published_paths).
UNWIND $ids AS id
MATCH (u:User {id: id})
OPTIONAL MATCH (u)-[r]->()
WITH u, id,
     sum(CASE type(r) WHEN 'BOUGHT' THEN 1 ELSE 0 END) AS purchases,
     sum(CASE type(r) WHEN 'VIEWED' THEN 1 ELSE 0 END) AS views,
     sum(CASE type(r) WHEN 'DISMISSED' THEN 1 ELSE 0 END) AS dismissals,
     sum(CASE type(r) WHEN 'RECOMMENDED' THEN 1 ELSE 0 END) AS recommended
DETACH DELETE u
RETURN id AS user_id, purchases, views, dismissals, recommended
