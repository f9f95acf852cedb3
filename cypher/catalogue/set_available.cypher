// Whether the shop offers an item now: $item, $available (a boolean). An item not offered
// (out of stock, discontinued) stays in the graph, in the histories of those who bought it and
// in the reason paths through it, and is never recommended. No row comes back when the item is
// not in the catalogue. The catalogue's change marker changes in the same transaction
// (catalogue/changed), so that the service's workers read the items again.
MATCH (i:Item {id: $item})
WHERE i.external IS NULL
WITH i, coalesce(i.available, true) AS before
SET i.available = $available
MERGE (c:Catalogue {name: 'items'})
SET c.changed = randomUUID()
RETURN before
