// Catalogue items the model was not trained on ($known: the model's item ids), with what folds
// them into it: their brand, their leaf category and their item links either way.
MATCH (i:Item)
WHERE i.external IS NULL AND NOT i.id IN $known
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
OPTIONAL MATCH (i)-[out:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]->(o:Item)
WITH i, b, c, collect([toLower(type(out)), o.id]) AS links_to
OPTIONAL MATCH (i)<-[inc:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(p:Item)
RETURN i.id AS item_id, b.name AS brand, c.name AS category, links_to,
       collect([toLower(type(inc)), p.id]) AS links_from
