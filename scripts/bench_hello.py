"""The baseline of `make bench`: a one-route Flask app, served by the same gunicorn."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """Answer with a constant (what the stack costs when the page costs nothing)."""
    return "Hello, World!"
