// $rows: [{explanation, key, position, rel, forward}]: the path nodes that are Brands.
// A label cannot be a parameter, hence one file per label.
UNWIND $rows AS row
MATCH (e:Explanation {id: row.explanation})
MATCH (n:Brand {name: row.key})
MERGE (e)-[s:STEP {position: row.position}]->(n)
SET s.rel = row.rel, s.forward = row.forward
