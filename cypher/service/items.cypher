// Display details of items: title, price and brand; and whether the shop offers each now.
UNWIND $ids AS id
MATCH (i:Item {id: id})
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
RETURN i.id AS item_id, i.title AS title, i.price AS price, b.name AS brand,
       coalesce(i.available, true) AS available
