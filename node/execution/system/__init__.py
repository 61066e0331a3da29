"""Native system contracts at fixed addresses; ``registry`` is the table of them all."""
