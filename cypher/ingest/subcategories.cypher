// $rows: [{child, parent}]
UNWIND $rows AS row
MATCH (c:Category {name: row.child})
MATCH (p:Category {name: row.parent})
MERGE (c)-[:SUBCATEGORY_OF]->(p)
