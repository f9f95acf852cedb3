// $rows: [{id, user, item, rank, weight, kind, sentence, model}]: one reason path each,
// linked (:User)-[:HAS_EXPLANATION]->(e)-[:EXPLAINS]->(:Item).
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (i:Item {id: row.item})
MERGE (e:Explanation {id: row.id})
SET e.user = row.user, e.item = row.item, e.rank = row.rank, e.weight = row.weight,
    e.kind = row.kind, e.sentence = row.sentence, e.model = row.model
MERGE (u)-[:HAS_EXPLANATION]->(e)
MERGE (e)-[:EXPLAINS]->(i)
