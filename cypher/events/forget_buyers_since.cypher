// After events/forget_since: each user whose `bought_at` is $since or later takes the time of
// their latest live purchase left, or none (null removes the property), so that a running
// service does not look through them for purchases that are gone.
MATCH (u:User)
WHERE u.bought_at >= $since
OPTIONAL MATCH (u)-[b:BOUGHT]->(:Item)
WHERE b.split = 'live'
WITH u, max(b.at) AS latest
SET u.bought_at = latest
RETURN count(u) AS users
