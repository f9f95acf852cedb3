// $rows: [{user, item, seq, split}]
UNWIND $rows AS row
MATCH (u:User {id: row.user})
MATCH (i:Item {id: row.item})
MERGE (u)-[b:BOUGHT]->(i)
SET b.seq = row.seq, b.split = row.split
