"""One module per page of the run browser; each reads through the history API only."""
