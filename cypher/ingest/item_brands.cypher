// $rows: [{item, brand}]: the item's one brand. A brand it had before is let go (the shop renamed
// or corrected it), so that an ingest of the item again never leaves it two.
UNWIND $rows AS row
MATCH (i:Item {id: row.item})
MATCH (b:Brand {name: row.brand})
OPTIONAL MATCH (i)-[was:HAS_BRAND]->(other:Brand)
WHERE other.name <> row.brand
DELETE was
MERGE (i)-[:HAS_BRAND]->(b)
