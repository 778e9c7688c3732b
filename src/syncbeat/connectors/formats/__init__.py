"""Load formats of one database, written by another database's SQL."""
