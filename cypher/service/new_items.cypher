// Catalogue items the model was not trained on ($known: a map whose keys are the model's item
// ids, one lookup an item, where `NOT i.id IN $list` compares each item with the whole list: see
// benchmarks/results/NOTES.md), with what folds them into it: their brand, their categories
// (the leaf of a path, or each of a set) and their item links either way; their title, which
// tells a second listing of a product the model knows.
MATCH (i:Item)
WHERE i.external IS NULL AND $known[i.id] IS NULL
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
WITH i, b, collect(DISTINCT c.name) AS categories
OPTIONAL MATCH (i)-[out:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]->(o:Item)
WITH i, b, categories, collect([toLower(type(out)), o.id]) AS links_to
OPTIONAL MATCH (i)<-[inc:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(p:Item)
RETURN i.id AS item_id, i.title AS title, b.name AS brand, categories, links_to,
       collect([toLower(type(inc)), p.id]) AS links_from
