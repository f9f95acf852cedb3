// Item-to-item links inside the catalogue.
MATCH (a:Item)-[r:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]->(b:Item)
WHERE a.external IS NULL AND b.external IS NULL
RETURN a.id AS item_id, toLower(type(r)) AS relation, b.id AS other_item_id
