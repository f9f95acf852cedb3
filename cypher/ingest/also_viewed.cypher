// $rows: [{item, other}]; a relationship type cannot be a parameter, hence one file per type.
UNWIND $rows AS row
MATCH (a:Item {id: row.item})
MATCH (b:Item {id: row.other})
MERGE (a)-[:ALSO_VIEWED]->(b)
