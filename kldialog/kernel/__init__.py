"""The shared kernel: database, time, audit, pagination, CSV, mail, errors; imports no feature."""
