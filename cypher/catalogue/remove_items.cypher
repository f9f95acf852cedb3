// $ids: items to take out of the catalogue with every relationship they have (a listing made
// by mistake, or a benchmark's own); the caller moves the change marker after it.
UNWIND $ids AS id
MATCH (i:Item {id: id})
DETACH DELETE i
