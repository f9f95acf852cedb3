// Uniqueness constraints, created before anything is loaded; safe to run again.
// Each one also gives the index that MERGE and MATCH by key use.
CREATE CONSTRAINT user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT item_id IF NOT EXISTS FOR (n:Item) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT brand_name IF NOT EXISTS FOR (n:Brand) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT category_name IF NOT EXISTS FOR (n:Category) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT catalogue_name IF NOT EXISTS FOR (n:Catalogue) REQUIRE n.name IS UNIQUE;
// The users who bought something live since a time: what a running service looks for.
CREATE INDEX user_bought_at IF NOT EXISTS FOR (n:User) ON (n.bought_at);
// The items the shop does not offer now: what a running service reads again at each look that
// finds the catalogue changed (service/unavailable_items), without scanning every item.
CREATE INDEX item_available IF NOT EXISTS FOR (n:Item) ON (n.available);
