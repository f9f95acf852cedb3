// The catalogue's size and change marker, read every few seconds by each worker of the service:
// the count of Item nodes (a count both stores keep for a label, read in a subquery: after a
// MATCH ... WITH, ArcadeDB scans the items instead) and the marker that every write of items'
// titles, prices, brands or availability gives a new random value (catalogue/changed,
// catalogue/set_available). A worker reads the items' details, or looks for new items to fold
// in, only when one of them moved.
CALL { MATCH (i:Item) RETURN count(i) AS items }
OPTIONAL MATCH (c:Catalogue {name: 'items'})
RETURN items, c.changed AS changed
