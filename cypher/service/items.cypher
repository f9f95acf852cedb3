// Display details of items: title, price and brand; and whether the shop offers each now.
// One row holding a list per item, not a row per item: the driver decodes a catalogue's worth of
// records several times slower than the same values in one list (benchmarks/results/NOTES.md).
UNWIND $ids AS id
MATCH (i:Item {id: id})
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
RETURN collect([i.id, i.title, i.price, b.name, coalesce(i.available, true)]) AS items
