// $rows: [{name}]
UNWIND $rows AS row
MERGE (:Category {name: row.name})
