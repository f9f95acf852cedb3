// $rows: [{id}]; products known only as the target of a link (ingest --keep-external).
UNWIND $rows AS row
MERGE (i:Item {id: row.id})
ON CREATE SET i.external = true
