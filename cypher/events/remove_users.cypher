// $ids: users to take out of the graph with every relationship they have (a benchmark's own
// shoppers, once its run is over).
UNWIND $ids AS id
MATCH (u:User {id: id})
DETACH DELETE u
