// Remove the events written at or after $since (milliseconds since the Unix epoch): the live
// purchases, views and dismissals of a test or a benchmark run. Purchases ingested with the
// catalogue have no time and are never touched.
MATCH (:User)-[r:BOUGHT|VIEWED|DISMISSED]->(:Item)
WHERE r.at >= $since
DELETE r
RETURN count(r) AS removed
