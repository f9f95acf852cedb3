// Catalogue items with their title, brand and category (products known only from links
// excluded): a row per category for an item in several (a catalogue read with --categories set).
MATCH (i:Item)
WHERE i.external IS NULL
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
RETURN i.id AS item_id, i.title AS title, b.name AS brand, c.name AS category
