// $rows: [{item, brand}]: the item's one brand, or none (brand null: a whole catalogue says the
// item has none). A brand it had before is let go (the shop renamed or corrected it, or took it
// off), so that an ingest of the item again never leaves it two, or one the catalogue no longer
// gives it.
UNWIND $rows AS row
MATCH (i:Item {id: row.item})
OPTIONAL MATCH (i)-[was:HAS_BRAND]->(other:Brand)
WHERE row.brand IS NULL OR other.name <> row.brand
DELETE was
WITH DISTINCT i, row
WHERE row.brand IS NOT NULL
MATCH (b:Brand {name: row.brand})
MERGE (i)-[:HAS_BRAND]->(b)
