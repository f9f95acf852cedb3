// Catalogue items with their brand and category (products known only from links excluded): a
// row per category for an item in several (a catalogue read with --categories set).
MATCH (i:Item)
WHERE i.external IS NULL
OPTIONAL MATCH (i)-[:HAS_BRAND]->(b:Brand)
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
RETURN i.id AS item_id, b.name AS brand, c.name AS category
