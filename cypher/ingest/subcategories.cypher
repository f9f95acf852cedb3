// $rows: [{child, parent}]: an update's hierarchy, added to the one in the store (a whole
// catalogue states it whole: category_parents.cypher)
UNWIND $rows AS row
MATCH (c:Category {name: row.child})
MATCH (p:Category {name: row.parent})
MERGE (c)-[:SUBCATEGORY_OF]->(p)
