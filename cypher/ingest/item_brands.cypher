// $rows: [{item, brand}]
UNWIND $rows AS row
MATCH (i:Item {id: row.item})
MATCH (b:Brand {name: row.brand})
MERGE (i)-[:HAS_BRAND]->(b)
