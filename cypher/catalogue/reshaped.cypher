// Mark the graph's shape as changed (after an ingest gave an item another brand or other
// categories, or moved a category in the hierarchy): a new random value, which a model records
// as it reads the graph (service/graph_counts) and is stale once it differs. Such a change
// leaves every count alone, and a model walks its reasons over the brands and categories it was
// trained on.
MERGE (c:Catalogue {name: 'graph'})
SET c.changed = randomUUID()
