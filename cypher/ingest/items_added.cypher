// $rows: [{id, title, price, sales_rank, available}]: the items of an update of the catalogue
// (ingest --update), which may say only what changed: a stock export of `item_id,available`, a
// price list. A value the row does not give (null) leaves what the store holds; a new item is
// written as ingest/items.cypher writes it, and a product known until now only as a link's
// target is an item of the catalogue once it is listed.
UNWIND $rows AS row
MERGE (i:Item {id: row.id})
SET i.title = coalesce(row.title, i.title), i.price = coalesce(row.price, i.price),
    i.sales_rank = coalesce(row.sales_rank, i.sales_rank),
    i.available = coalesce(row.available, i.available)
REMOVE i.external
