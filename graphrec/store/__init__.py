"""The graph store: the driver and its queries (:mod:`.connection`), the local ArcadeDB server
graphrec starts when no Neo4j is configured (:mod:`.local`), and what is read out of the graph
in bulk (:mod:`.export`, :mod:`.stats`)."""
