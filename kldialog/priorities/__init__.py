"""Priority rounds (approval and points ballots), their frozen results, and indicator ratings."""
