// $ids: item ids; those the store holds as items of the catalogue (a product known only as a
// link's target, `external`, is not one).
UNWIND $ids AS id
MATCH (i:Item {id: id})
WHERE i.external IS NULL OR i.external = false
RETURN i.id AS id
