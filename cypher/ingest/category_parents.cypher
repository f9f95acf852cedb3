// $rows: [{child, parents}]: every category a whole catalogue names, with the parents its paths
// give it (none, read as sets). A parent it had before and has not now is let go (an earlier
// ingest read the column as paths, or the shop moved the category), so that the hierarchy is
// the one the catalogue implies: an update's paths only add to it (subcategories.cypher).
UNWIND $rows AS row
MATCH (c:Category {name: row.child})
OPTIONAL MATCH (c)-[was:SUBCATEGORY_OF]->(other:Category)
WHERE NOT other.name IN row.parents
DELETE was
WITH DISTINCT c, row
UNWIND row.parents AS name
MATCH (p:Category {name: name})
MERGE (c)-[:SUBCATEGORY_OF]->(p)
