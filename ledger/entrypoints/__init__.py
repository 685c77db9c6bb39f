"""The top floor: the command line (and later the HTTP API). They translate, call and render."""
