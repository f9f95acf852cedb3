// Whether the shop offers an item now: $item, $available (a boolean). An item not offered
// (out of stock, discontinued) stays in the graph, in the histories of those who bought it and
// in the reason paths through it, and is never recommended. No row comes back when the item is
// not in the catalogue.
MATCH (i:Item {id: $item})
WHERE i.external IS NULL
WITH i, coalesce(i.available, true) AS before
SET i.available = $available
RETURN before
