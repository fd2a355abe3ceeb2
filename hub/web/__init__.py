"""Server-rendered pages (Jinja2): sign-in, the resident's consent decision, the counter session."""
