// $rows: [{id, title, price, sales_rank, available}]; a later ingest updates the properties.
// `available` null (the catalogue does not say) leaves what the store holds: an availability
// set through the API since is not undone by loading a catalogue without the column. A product
// known until now only as a link's target (ingest/external_items) is an item of the catalogue
// once it is listed.
UNWIND $rows AS row
MERGE (i:Item {id: row.id})
SET i.title = row.title, i.price = row.price, i.sales_rank = row.sales_rank,
    i.available = coalesce(row.available, i.available)
REMOVE i.external
