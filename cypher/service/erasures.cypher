// The marker every erasure of users gives a new value (erasure/mark): read with the purchases
// reported live, which are read again whole once it moved.
OPTIONAL MATCH (c:Catalogue {name: 'erasures'})
RETURN c.changed AS changed
