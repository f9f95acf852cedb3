// Mark the catalogue's items as changed (after an ingest wrote titles, prices, brands or
// availability): a new random value, which the service's workers compare with the one they read
// the details with (service/catalogue_state). Random rather than a counter: two writers that
// both read 5 would both write 6, and a worker that read 6 between them would miss the second.
MERGE (c:Catalogue {name: 'items'})
SET c.changed = randomUUID()
