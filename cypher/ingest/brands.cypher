// $rows: [{name}]
UNWIND $rows AS row
MERGE (:Brand {name: row.name})
