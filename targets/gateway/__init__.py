"""The API gateway: one program, three roles (`single`, `identity`, `business`)."""
