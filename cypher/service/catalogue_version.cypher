// The catalogue's change marker: a new random value after every write that changes an item's
// title, price, brand or availability (catalogue/changed, catalogue/set_available). A worker
// reads the whole catalogue's details again only when it differs from the one it read them with.
OPTIONAL MATCH (c:Catalogue {name: 'items'})
RETURN c.changed AS changed
