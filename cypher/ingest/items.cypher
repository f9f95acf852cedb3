// $rows: [{id, title, price, sales_rank}]; a later ingest updates the properties.
UNWIND $rows AS row
MERGE (i:Item {id: row.id})
SET i.title = row.title, i.price = row.price, i.sales_rank = row.sales_rank
