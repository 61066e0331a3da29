"""The ``consortia`` command line."""
