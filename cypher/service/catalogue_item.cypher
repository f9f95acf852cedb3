// Whether the catalogue holds $item (not as a product known only as a link's target): asked only
// when a request names an item the worker's model does not know, which may have been ingested
// since the worker's last look at the catalogue.
MATCH (i:Item {id: $item})
WHERE i.external IS NULL
RETURN i.id AS id
