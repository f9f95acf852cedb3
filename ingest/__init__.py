"""Reading a shop's catalogue, checking it row by row, and loading it into the graph."""
