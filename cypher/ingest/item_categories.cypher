// $rows: [{item, categories}]: every category the item is in (the leaf of its path, or the names
// of its category set). A category it was in before and is not now is let go (the shop moved
// it), so that an ingest of the item again never leaves it in both.
UNWIND $rows AS row
MATCH (i:Item {id: row.item})
OPTIONAL MATCH (i)-[was:IN_CATEGORY]->(other:Category)
WHERE NOT other.name IN row.categories
DELETE was
WITH DISTINCT i, row
UNWIND row.categories AS name
MATCH (c:Category {name: name})
MERGE (i)-[:IN_CATEGORY]->(c)
