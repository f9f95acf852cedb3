// $rows: [{item, category}]; category is the leaf of the item's path, or one of the names of
// its category set.
UNWIND $rows AS row
MATCH (i:Item {id: row.item})
MATCH (c:Category {name: row.category})
MERGE (i)-[:IN_CATEGORY]->(c)
