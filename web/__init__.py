"""The HTTP service: recommendations and their reasons as JSON, and a page that draws them."""
