// Display details of items: title, price and brand.
UNWIND $ids AS id
MATCH (i:Item {id: id})
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
RETURN i.id AS item_id, i.title AS title, i.price AS price, b.name AS brand
