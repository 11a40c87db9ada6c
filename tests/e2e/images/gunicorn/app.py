"""The WSGI app of localhost/rofs-e2e-gunicorn:bookworm: GET / answers a fixed line."""


def application(environ, start_response):
    body = b"rofs-e2e-gunicorn ok 42\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
