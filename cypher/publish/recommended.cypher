// $rows: [{user, item, rank, score, model}]: one recommendation each.
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (i:Item {id: row.item})
MERGE (u)-[r:RECOMMENDED]->(i)
SET r.rank = row.rank, r.score = row.score, r.model = row.model
