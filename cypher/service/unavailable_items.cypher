// The catalogue's items the shop does not offer now (set by catalogue/set_available).
MATCH (i:Item)
WHERE i.available = false
RETURN i.id AS item_id
