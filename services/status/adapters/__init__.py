"""Status's adapters besides MongoDB: the HTTP read API and the event archive stream."""
