// Mark that users were forgotten: a new random value, which each worker of the service reads
// with the purchases reported live (service/erasures) and, once it moved, reads those again
// whole, so that a forgotten shopper's live purchases leave the co-buyer paths and their counts
// without waiting for the next model.
MERGE (c:Catalogue {name: 'erasures'})
SET c.changed = randomUUID()
